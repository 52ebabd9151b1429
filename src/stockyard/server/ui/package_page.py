"""`/ui/{channel}/{name}?page=&files=`: one package of a channel.

What the page shows, top to bottom:

- name, latest version, summary, description; license, home / documentation / development /
  source links (from channeldata, else about.json; only http(s) URLs become links);
- install commands for conda, mamba, micromamba and pixi, each with a copy button (the
  buttons appear only when the script runs; the command text is selectable without it);
- the run_exports of the latest version's builds (builds exporting the same are grouped);
- "used by": the other names of the channel whose newest version depends on this one
  (`Catalog.used_by`, one query);
- the versions, newest first, `VERSIONS_PER_PAGE` per page, each with its builds per subdir:
  facts, download link, dependencies and constraints (a spec links to the package page of its
  name when the channel has that name: one `Catalog.names_present` query per page);
- for each build shown, its CEP 27 attestations (who published it, from which workflow) and
  its scan findings (`trust_views.artifact_trust`: one sidecar read per build, one scan
  database query per page);
- the files of one build (`?files=<subdir>/<filename>`, by default the first build of the
  latest version): path and size from its `info/paths.json`, the first 1,000 with the
  count and total size (`contents.read_contents`, bounded, `contents.MAX_LISTED`).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from fastapi import Request
from starlette.responses import Response

from stockyard.catalog import ArtifactDetail, Channel
from stockyard.catalog.browse import spec_name
from stockyard.server.api import group_versions
from stockyard.server.client_commands import install_commands, pixi_commands
from stockyard.server.models import BuildOut, VersionOut
from stockyard.server.state import ServerState
from stockyard.server.ui.common import (
    ChannelVisit,
    Links,
    page_number,
    pagination,
    public_channel_url,
    visit_channel,
)
from stockyard.server.ui.contents import Contents, read_contents
from stockyard.server.ui.patch_view import patch_changes
from stockyard.server.ui.templating import first_text, text
from stockyard.server.ui.trust_views import artifact_trust

#: Versions per page of a package (each with all its builds).
VERSIONS_PER_PAGE: Final = 20
#: Names shown under "used by" (the count covers all).
MAX_USED_BY: Final = 500
#: run_exports kinds in the order conda-build documents them; others follow, sorted.
RUN_EXPORT_KINDS: Final = ("weak", "strong", "noarch", "weak_constrains", "strong_constrains")


# --- specs as links -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpecView:
    #: The spec as the record spells it.
    text: str
    #: The package page of its name when the channel has that name.
    href: str | None


class SpecLinker:
    """Turns specs into `SpecView`s, with one catalog query for every name on the page."""

    def __init__(self, present: set[str], links: Links, channel: str) -> None:
        self.present = present
        self.links = links
        self.channel = channel

    def __call__(self, specs: Iterable[Any]) -> list[SpecView]:
        out = []
        for spec in specs:
            name = spec_name(spec)
            href = self.links.ui(self.channel, name) if name in self.present else None
            out.append(SpecView(str(spec), href))
        return out


def _specs(values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


# --- the parts of the page ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuildView:
    build: BuildOut
    depends: list[SpecView]
    constrains: list[SpecView]
    #: This page with this build's files shown.
    files_href: str
    files_shown: bool


@dataclass(frozen=True, slots=True)
class SubdirBuilds:
    subdir: str
    builds: list[BuildView]


@dataclass(frozen=True, slots=True)
class VersionView:
    version: str
    subdirs: list[SubdirBuilds]
    conda: str
    pixi: str
    build_count: int


@dataclass(frozen=True, slots=True)
class Command:
    client: str
    text: str


@dataclass(frozen=True, slots=True)
class RunExportsGroup:
    #: `<subdir>/<build>` of each build exporting exactly this.
    builds: list[str]
    #: (kind, specs), e.g. ("weak", [libzlib >=1.3.1,<2.0a0]).
    kinds: list[tuple[str, list[SpecView]]]


@dataclass(frozen=True, slots=True)
class FilesView:
    subdir: str
    filename: str
    contents: Contents | None
    #: `?files=` named no build of this package (the default build is shown instead).
    unknown_request: str


def _commands(state: ServerState, channel: Channel, spec: str) -> list[Command]:
    """conda, mamba, micromamba and pixi, with the channel's URL (a `<TOKEN>` placeholder for a
    private channel, as every page shows it)."""
    url = public_channel_url(state, channel)
    clients = install_commands(state.settings.base_url, channel.name, spec, private=channel.private)
    return [
        Command("conda", clients["conda"]),
        Command("mamba", clients["mamba"]),
        Command("micromamba", f"micromamba install -c {url} {spec}"),
        Command("pixi", clients["pixi"]),
    ]


#: run_exports as (kind, specs) pairs.
_Kinds = list[tuple[str, list[str]]]


def _run_exports_kinds(value: dict[str, Any]) -> _Kinds:
    known = [kind for kind in RUN_EXPORT_KINDS if kind in value]
    others = sorted(kind for kind in value if isinstance(kind, str) and kind not in known)
    kinds = [(kind, _specs(value[kind])) for kind in known + others]
    return [(kind, specs) for kind, specs in kinds if specs]


def _run_exports(
    latest: list[ArtifactDetail],
) -> list[tuple[list[str], list[tuple[str, list[str]]]]]:
    """The latest version's builds grouped by identical run_exports (builds exporting nothing
    left out), in subdir and build order."""
    groups: dict[str, tuple[list[str], _Kinds]] = {}
    for artifact in sorted(latest, key=lambda a: (a.subdir, a.filename)):
        kinds = _run_exports_kinds(artifact.run_exports)
        if not kinds:
            continue
        key = repr(kinds)
        groups.setdefault(key, ([], kinds))[0].append(f"{artifact.subdir}/{artifact.build}")
    return list(groups.values())


def _selected_build(
    request: Request, artifacts: list[ArtifactDetail], latest: VersionOut
) -> tuple[ArtifactDetail, str]:
    """The build whose files are shown, and the `?files=` value when it named none."""
    by_key = {f"{a.subdir}/{a.filename}": a for a in artifacts}
    requested = request.query_params.get("files", "")[:300]
    if requested in by_key:
        return by_key[requested], ""
    first = latest.builds[0]
    return by_key[f"{first.subdir}/{first.filename}"], requested


def _about(artifacts: list[ArtifactDetail], latest: str) -> dict[str, Any]:
    return next((a.about for a in artifacts if a.version == latest and a.about), None) or next(
        (a.about for a in artifacts if a.about), {}
    )


# --- the handler ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Page:
    """What the handler knows once the channel and package are found."""

    state: ServerState
    channel: Channel
    name: str
    links: Links
    artifacts: list[ArtifactDetail]
    versions: list[VersionOut]
    page: int


def _version_views(
    page: _Page, shown: list[VersionOut], link: SpecLinker, selected: ArtifactDetail
) -> list[VersionView]:
    views = []
    for version in shown:
        by_subdir: dict[str, list[BuildView]] = {}
        for build in version.builds:  # already ordered by subdir, newest build number first
            key = f"{build.subdir}/{build.filename}"
            by_subdir.setdefault(build.subdir, []).append(
                BuildView(
                    build=build,
                    depends=link(build.depends),
                    constrains=link(build.constrains),
                    files_href=page.links.ui(
                        page.channel.name,
                        page.name,
                        fragment="files",
                        page=page.page if page.page > 1 else None,
                        files=key,
                    ),
                    files_shown=key == f"{selected.subdir}/{selected.filename}",
                )
            )
        spec = shlex.quote(f"{page.name}={version.version}")
        clients = install_commands(
            page.state.settings.base_url, page.channel.name, spec, private=page.channel.private
        )
        views.append(
            VersionView(
                version=version.version,
                subdirs=[SubdirBuilds(subdir, builds) for subdir, builds in by_subdir.items()],
                conda=clients["conda"],
                pixi=pixi_commands(public_channel_url(page.state, page.channel), spec),
                build_count=len(version.builds),
            )
        )
    return views


def _details(page: _Page, request: Request) -> dict[str, Any]:
    """The template context of the package's details (everything but the header facts)."""
    state, channel, name = page.state, page.channel, page.name
    latest = page.versions[0]
    start = (page.page - 1) * VERSIONS_PER_PAGE
    shown = page.versions[start : start + VERSIONS_PER_PAGE]
    latest_artifacts = [a for a in page.artifacts if a.version == latest.version]
    exports = _run_exports(latest_artifacts)

    mentioned: set[str] = set()
    for version in shown:
        for build in version.builds:
            mentioned.update(filter(None, map(spec_name, [*build.depends, *build.constrains])))
    for _, kinds in exports:
        for _, specs in kinds:
            mentioned.update(filter(None, map(spec_name, specs)))
    link = SpecLinker(state.catalog.names_present(channel.id, mentioned), page.links, channel.name)

    selected, unknown = _selected_build(request, page.artifacts, latest)
    contents = read_contents(
        state.store(channel),
        f"{selected.subdir}/{selected.filename}",
        sha256=selected.sha256,
        cache_scope=channel.id,
    )
    used_by = state.catalog.used_by(channel.id, name)
    builds = [(b.subdir, b.filename, b.sha256) for version in shown for b in version.builds]
    return {
        "trust": artifact_trust(state, channel, builds),
        "patches": patch_changes(state.catalog, channel, selected),
        "patched_build": f"{selected.subdir}/{selected.filename}",
        "versions": _version_views(page, shown, link, selected),
        "run_exports": [
            RunExportsGroup(builds, [(kind, link(specs)) for kind, specs in kinds])
            for builds, kinds in exports
        ],
        "used_by": used_by[:MAX_USED_BY],
        "used_by_count": len(used_by),
        "files": FilesView(selected.subdir, selected.filename, contents, unknown),
    }


def package_page(request: Request) -> Response:
    name = request.path_params["name"]
    visit = visit_channel(request, request.path_params["channel"])
    if not isinstance(visit, ChannelVisit):
        return visit
    state, renderer, visitor, channel = visit.state, visit.renderer, visit.visitor, visit.channel
    artifacts = state.catalog.package_artifacts(channel.id, name)
    if not artifacts:
        return renderer.not_found(
            visitor,
            f"Package {name!r} is not in channel {channel.name!r}.",
            "Search the channel for the name.",
            channel=channel.name,
        )

    versions = group_versions(artifacts, visitor.links.files(channel.name))
    page = _Page(state, channel, name, visitor.links, artifacts, versions, page_number(request))
    latest = versions[0].version
    entry = state.catalog.package_entry(channel.id, name) or {}
    about = _about(artifacts, latest)

    def field_of(key: str) -> str:
        return first_text(entry.get(key)) or first_text(about.get(key))

    return renderer.page(
        visitor,
        "package.html",
        channel=channel,
        name=name,
        latest=latest,
        summary=field_of("summary"),
        # about.json keeps the description's paragraphs; channeldata flattens it to one line.
        description=text(about.get("description")) or text(entry.get("description")),
        license=field_of("license"),
        project_links=[
            (label, field_of(key))
            for label, key in (
                ("Home", "home"),
                ("Documentation", "doc_url"),
                ("Development", "dev_url"),
                ("Source", "source_url"),
            )
            if field_of(key)
        ],
        subdirs=sorted({a.subdir for a in artifacts}),
        version_count=len(versions),
        build_count=len(artifacts),
        first_page=page.page == 1,
        pagination=pagination(
            page.page,
            len(versions),
            VERSIONS_PER_PAGE,
            lambda n: visitor.links.ui(channel.name, name, page=n if n > 1 else None),
        ),
        url=public_channel_url(state, channel),
        commands=_commands(state, channel, name),
        **_details(page, request),
    )


__all__ = ["MAX_USED_BY", "VERSIONS_PER_PAGE", "package_page"]
