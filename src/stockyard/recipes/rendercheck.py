"""Render a v1 recipe with rattler-build's Python API (`--render-only`, no solving, offline).

Used by `generate --check` and by the tests: a recipe we write must render for every platform
conda-forge builds for, so that a selector or Jinja mistake shows before review.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockyard.recipes.errors import RecipeInvalid

PLATFORMS = ("linux-64", "osx-arm64", "win-64")

# What conda-forge's global pinning would give `stdlib('c')` and the Python variants; enough to
# render, since rendering does not solve.
_STDLIB = {
    "linux": ("sysroot", "2.17"),
    "osx": ("macosx_deployment_target", "11.0"),
    "win": ("vs", "2022"),
}
RENDER_PYTHONS = ["3.10", "3.14"]


def _variants(platform: str) -> Any:
    from rattler_build.variant_config import VariantConfig

    stdlib, version = _STDLIB[platform.split("-")[0]]
    return VariantConfig(
        {
            "c_stdlib": [stdlib],
            "c_stdlib_version": [version],
            "python": RENDER_PYTHONS,
            "python_min": [RENDER_PYTHONS[0]],
            "r_base": ["4.4"],
        }
    )


def preload() -> None:
    """Import rattler-build's Python API now (the CLI does so while PyPI answers)."""
    try:
        import rattler_build.render
        import rattler_build.stage0  # noqa: F401
    except ImportError:  # pragma: no cover - render_recipe says what to install
        pass


@dataclass(frozen=True)
class RenderedOutput:
    platform: str
    name: str
    requirements: dict[str, Any]
    noarch: str | None


def render_recipe(
    path: Path, platforms: tuple[str, ...] = PLATFORMS, v3: bool = False
) -> list[RenderedOutput]:
    """Every output of the recipe at `path`, rendered per platform; RecipeInvalid on failure."""
    try:
        from rattler_build import RepodataRevision
        from rattler_build.render import RenderConfig
        from rattler_build.stage0 import Stage0Recipe
        from rattler_build.tool_config import PlatformConfig
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        raise RecipeInvalid(
            "rattler-build's Python API is not installed", hint="pip install py-rattler-build"
        ) from exc
    revision = RepodataRevision.V3 if v3 else RepodataRevision.LEGACY
    try:
        # Parsed once: only the render depends on the platform.
        recipe = Stage0Recipe.from_file(path, repodata_revision=revision)
    except Exception as exc:  # rattler-build raises its own exception types
        raise RecipeInvalid(f"rattler-build cannot read {path}: {exc}") from exc
    rendered = []
    for platform in platforms:
        config = RenderConfig(
            platform=PlatformConfig(target_platform=platform), repodata_revision=revision
        )
        try:
            variants = recipe.render(_variants(platform), render_config=config)
        except Exception as exc:  # rattler-build raises its own exception types
            raise RecipeInvalid(
                f"rattler-build cannot render {path} for {platform}: {exc}"
            ) from exc
        for variant in variants:
            document = variant.recipe.to_dict()
            rendered.append(
                RenderedOutput(
                    platform=platform,
                    name=str(document["package"]["name"]),
                    requirements=dict(document.get("requirements") or {}),
                    noarch=(document.get("build") or {}).get("noarch"),
                )
            )
    return rendered
