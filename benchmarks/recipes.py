"""Recipe generation benchmark: `stockyard recipe generate pypi` against grayskull and
rattler-build's `generate-recipe pypi`, scored against conda-forge feedstocks.

Ground truth: benchmarks/data/feedstocks/feedstocks.json (names of the main output's host and run
requirements, noarch and license of 52 conda-forge feedstocks, each at its own version). For
every package, each tool generates a recipe at the feedstock's version, in a fresh process
(timed: interpreter start, network and the tool's own checks included):

- stockyard: `stockyard recipe generate pypi NAME==VERSION -o DIR --index-url SHIM` (v1; the
  same shim as the peers, `--pypi-direct` makes it read pypi.org itself);
- grayskull: `grayskull pypi --strict-conda-forge --no-use-v1-format NAME==VERSION` (own venv;
  its v1 output needs conda-recipe-manager, which is not on PyPI, so the v0 `meta.yaml` is read);
- rattler-build: py-rattler-build's `generate_pypi_recipe_string_py` (the code behind
  `rattler-build generate-recipe pypi`), without the conda-forge name mapping, which it cannot
  download from this machine.

PyPI's per-version JSON API (`/pypi/NAME/VERSION/json`) answers 404 from this machine while the
project JSON and files.pythonhosted.org answer, and both peers need it. So the peers read PyPI
through a local shim on 127.0.0.1 that answers the per-version document from the project
document plus the core metadata of the release's first uploaded file (PEP 658 `.metadata` for a
wheel, `PKG-INFO` for an sdist): what PyPI's own per-version `info` is made from. Upstream
responses and every tool's output are cached under --cache (reruns only score and render).
Each tool runs once per round (`--rounds cold,warm`): cold with the shim's cache empty, warm
with it filled; wall and CPU seconds (the tool's process tree) are kept per round.

Scored per tool: precision and recall of run-requirement names (python and virtual packages
left out; names lowercased with `_` as `-`), recall of host-requirement names, noarch agreement,
SPDX license agreement (`stockyard.types.licenses.normalize_license` on both sides), the share
of recipes rattler-build renders (`stockyard.recipes.rendercheck.render_recipe`: linux-64,
osx-arm64, win-64 with conda-forge-like variants), seconds per package. A tool that fails to
write a recipe scores nothing for that package (it counts in every denominator).

Prints one JSON document. Usage:

    .venv/bin/python benchmarks/recipes.py --grayskull /tmp/peers/gs/bin/grayskull \
        [--cache ~/.cache/stockyard-bench-recipes] [--only rich,attrs] [--refresh]
"""

from __future__ import annotations

import argparse
import http.server
import io
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TRUTH = ROOT / "benchmarks" / "data" / "feedstocks" / "feedstocks.json"
PY = sys.executable
TOOLS = ("stockyard", "grayskull", "rattler_build")
STOCKYARD_GENERATE = [PY, "-m", "stockyard.cli.main", "recipe", "generate", "pypi"]
RATTLER_SNIPPET = """
import sys
from rattler_build._rattler_build import generate_pypi_recipe_string_py as generate
sys.stdout.write(generate(sys.argv[1], sys.argv[2], False, [sys.argv[3]]))
"""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*")
_JINJA = re.compile(r"\$\{\{\s*([A-Za-z_]+)\s*\}\}")
_V0_SET = re.compile(r"\{%-?\s*set\s+(\w+)\s*=\s*[\"']([^\"']*)[\"']\s*-?%\}")
_V0_EXPR = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_V0_STATEMENT = re.compile(r"\{%.*?%\}")


# --- the PyPI shim -------------------------------------------------------------------------


#: Seconds the shim spent reading pypi.org and files.pythonhosted.org (cold runs only).
UPSTREAM = {"seconds": 0.0}


def _fetch(url: str, cache: Path) -> bytes | None:
    """GET `url` once; the body (or a 404 marker) is kept in `cache`."""
    if cache.exists():
        data = cache.read_bytes()
        return None if data == b"\0404" else data
    cache.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": "stockyard-benchmark"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            data = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            raise
        cache.write_bytes(b"\0404")
        return None
    finally:
        UPSTREAM["seconds"] += time.perf_counter() - started
    cache.write_bytes(data)
    return data


def _core_metadata(entry: dict[str, Any], cache: Path) -> bytes | None:
    """Core metadata of one release file: PEP 658 for wheels, else from the archive."""
    name = entry["filename"]
    if name.endswith(".whl"):
        found = _fetch(entry["url"] + ".metadata", cache / f"{name}.metadata")
        if found is not None:
            return found
    data = _fetch(entry["url"], cache / name)
    if data is None:
        return None
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for member in archive.namelist():
                if member.endswith((".dist-info/METADATA", "PKG-INFO")) and member.count("/") <= 1:
                    return archive.read(member)
        return None
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        for member in archive:
            if member.name.count("/") == 1 and member.name.endswith("/PKG-INFO"):
                handle = archive.extractfile(member)
                return handle.read() if handle else None
    return None


def _info_from_metadata(raw: bytes, base: dict[str, Any]) -> dict[str, Any]:
    message = HeaderParser().parsestr(raw.decode("utf-8", "replace"))
    info = dict(base)
    single = {
        "Name": "name",
        "Version": "version",
        "Summary": "summary",
        "License": "license",
        "License-Expression": "license_expression",
        "Requires-Python": "requires_python",
        "Home-page": "home_page",
        "Author": "author",
        "Author-email": "author_email",
        "Keywords": "keywords",
    }
    for header, key in single.items():
        info[key] = message.get(header)
    info["requires_dist"] = message.get_all("Requires-Dist") or None
    info["classifiers"] = message.get_all("Classifier") or []
    info["provides_extra"] = message.get_all("Provides-Extra") or None
    urls = {}
    for line in message.get_all("Project-URL") or []:
        label, _, url = line.partition(",")
        urls[label.strip()] = url.strip()
    info["project_urls"] = urls or None
    return info


def project_document(name: str, cache: Path) -> dict[str, Any] | None:
    """PyPI's project JSON, file URLs made absolute (this machine's PyPI answers relative ones)."""
    url = f"https://pypi.org/pypi/{name}/json"
    raw = _fetch(url, cache / "json" / f"{name}.json")
    if raw is None:
        return None
    project: dict[str, Any] = json.loads(raw)
    for files in [*(project.get("releases") or {}).values(), project.get("urls") or []]:
        for entry in files:
            entry["url"] = urllib.parse.urljoin(url, entry["url"])
    return project


def version_document(name: str, version: str, cache: Path) -> bytes | None:
    """What `/pypi/NAME/VERSION/json` would answer, built from the project document."""
    project = project_document(name, cache)
    if project is None:
        return None
    files = (project.get("releases") or {}).get(version)
    if not files:
        return None
    first = min(files, key=lambda f: f.get("upload_time_iso_8601") or "")
    raw = _core_metadata(first, cache / "files")
    info = dict(project["info"], version=version)
    if raw is not None:
        info = _info_from_metadata(raw, info)
    document = {"info": info, "urls": files, "last_serial": project.get("last_serial")}
    return json.dumps(document).encode()


def _shim_handler(state: dict[str, Path]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            cache = state["cache"]  # switched between runs: empty for cold ones
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            body: bytes | None = None
            if parts and parts[0] == "simple":  # pip's index (sdist-only builds): PyPI's own
                self.send_response(302)
                self.send_header("Location", "https://pypi.org" + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json":
                project = project_document(parts[1], cache)
                body = json.dumps(project).encode() if project else None
            elif len(parts) == 4 and parts[0] == "pypi" and parts[3] == "json":
                body = version_document(parts[1], parts[2], cache)
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextmanager
def pypi_shim(state: dict[str, Path]) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _shim_handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/pypi"
    finally:
        server.shutdown()
        server.server_close()


# --- running the tools ---------------------------------------------------------------------


Timing = dict[str, float]


def _timed(argv: list[str], cwd: Path) -> tuple[Timing, subprocess.CompletedProcess[str]]:
    """Wall seconds, and CPU seconds (user + system) of the process and its children: on a
    shared machine the CPU number is the steadier one."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    upstream = UPSTREAM["seconds"]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    timing = {"wall": wall, "cpu": cpu, "shim_upstream": UPSTREAM["seconds"] - upstream}
    return timing, done


def run_stockyard(pypi: str, version: str, out: Path, ctx: dict[str, Any]) -> Timing:
    argv = [*STOCKYARD_GENERATE, f"{pypi}=={version}", "-o", str(out)]
    if not ctx["pypi_direct"]:  # the same PyPI as the peers: the shim's JSON API
        argv += ["--index-url", ctx["shim"].removesuffix("/pypi")]
    seconds, done = _timed(argv, out)
    (out / "stderr.txt").write_text(done.stderr[-4000:])
    return seconds


def run_grayskull(pypi: str, version: str, out: Path, ctx: dict[str, Any]) -> Timing:
    gs = ctx["grayskull"]
    if gs is None:
        (out / "stderr.txt").write_text("grayskull not installed")
        return {"wall": 0.0, "cpu": 0.0, "shim_upstream": 0.0}
    argv = [str(gs), "pypi", "--strict-conda-forge", "--no-use-v1-format"]
    argv += ["--pypi-metadata-url", ctx["shim"] + "/", "-o", str(out), f"{pypi}=={version}"]
    seconds, done = _timed(argv, out)
    (out / "stderr.txt").write_text((done.stdout + done.stderr)[-4000:])
    for found in out.rglob("meta.yaml"):
        if found.parent != out:
            found.replace(out / "meta.yaml")
    return seconds


def run_rattler_build(pypi: str, version: str, out: Path, ctx: dict[str, Any]) -> Timing:
    seconds, done = _timed([PY, "-c", RATTLER_SNIPPET, pypi, version, ctx["shim"]], out)
    (out / "stderr.txt").write_text(done.stderr[-4000:])
    if done.returncode == 0 and done.stdout.strip():
        (out / "recipe.yaml").write_text(done.stdout)
    return seconds


RUNNERS = {
    "stockyard": run_stockyard,
    "grayskull": run_grayskull,
    "rattler_build": run_rattler_build,
}


def _prime(truth: dict[str, Any], cache: Path) -> None:
    """Fill the shim's cache with what any tool asks about this package (for warm runs)."""
    version_document(truth["pypi"], truth["version"], cache)


def generate(
    tool: str, name: str, truth: dict[str, Any], ctx: dict[str, Any]
) -> tuple[Path, dict[str, Timing]]:
    """The tool's output directory for the package and its timings per round (cached).

    Rounds: `cold`, the shim's cache empty (every document read from PyPI during the run, by
    whichever tool asked), then `warm`, the shim answering from its cache. The output of the
    last round is the one scored.
    """
    out = ctx["cache"] / "results" / tool / f"{name}-{truth['version']}"
    stamp = out / "seconds.json"
    if stamp.exists() and not ctx["refresh"]:
        kept = json.loads(stamp.read_text())
        if all(isinstance(kept.get(r), dict) for r in ctx["rounds"]):
            return out, {r: kept[r] for r in ctx["rounds"]}
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, Timing] = {}
    for round_ in ctx["rounds"]:
        for old in out.glob("*"):
            if old.is_file():
                old.unlink()
        if round_ == "cold":
            cold = Path(tempfile.mkdtemp(prefix="cold-", dir=ctx["cache"]))
            ctx["state"]["cache"] = cold
        else:
            _prime(truth, ctx["warm"])
            ctx["state"]["cache"] = ctx["warm"]
        try:
            timings[round_] = RUNNERS[tool](truth["pypi"], truth["version"], out, ctx)
        finally:
            ctx["state"]["cache"] = ctx["warm"]
            if round_ == "cold":
                shutil.rmtree(cold, ignore_errors=True)
    stamp.write_text(json.dumps(timings))
    return out, timings


# --- reading recipes -----------------------------------------------------------------------


def norm(name: str) -> str:
    return name.lower().replace("_", "-")


def _names(items: Any) -> set[str]:
    """Package names of a requirement list, selectors flattened, Jinja calls skipped."""
    found: set[str] = set()
    for item in items or []:
        if isinstance(item, dict):
            found |= _names(_as_list(item.get("then"))) | _names(_as_list(item.get("else")))
            continue
        text = str(item).strip()
        match = _NAME.match(text)
        if not match or text.startswith("${{"):
            continue
        name = norm(match.group(0))
        if name != "python" and not name.startswith("__"):
            found.add(name)
    return found


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _resolve(value: Any, context: dict[str, Any]) -> str:
    return _JINJA.sub(lambda m: str(context.get(m.group(1), m.group(0))), str(value or ""))


def _main_output(doc: dict[str, Any], name: str) -> dict[str, Any]:
    outputs = doc.get("outputs")
    if not outputs:
        return doc
    context = doc.get("context") or {}
    for output in outputs:
        package = _resolve((output.get("package") or {}).get("name"), context)
        if norm(package) == norm(name):
            return output
    return outputs[0]


def v0_as_yaml(text: str) -> str:
    """A v0 `meta.yaml` made plain YAML: `{% set %}` values substituted, other Jinja dropped or
    left as its bare expression (enough to read names, noarch and license)."""
    context = dict(_V0_SET.findall(text))
    text = _V0_STATEMENT.sub("", text)
    return _V0_EXPR.sub(lambda m: str(context.get(m.group(1), m.group(1))), text)


def read_recipe(path: Path, name: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    text = path.read_text()
    if path.name == "meta.yaml":
        text = v0_as_yaml(text)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if not isinstance(doc, dict):
        return None
    main = _main_output(doc, name)
    requirements = main.get("requirements") or doc.get("requirements") or {}
    build = {**(doc.get("build") or {}), **(main.get("build") or {})}
    noarch = _resolve(build.get("noarch"), doc.get("context") or {}) or None
    about = {**(doc.get("about") or {}), **(main.get("about") or {})}
    return {
        "run": sorted(_names(requirements.get("run"))),
        "host": sorted(_names(requirements.get("host"))),
        "noarch": noarch,
        "license": about.get("license"),
    }


def renders(path: Path) -> tuple[bool | None, str]:
    """Whether rattler-build renders the v1 recipe; None for a v0 `meta.yaml` (it cannot)."""
    from stockyard.recipes.errors import RecipeInvalid
    from stockyard.recipes.rendercheck import render_recipe

    if path.name == "meta.yaml":
        return None, ""
    if not path.exists():
        return False, "no recipe"
    try:
        render_recipe(path)
    except RecipeInvalid as exc:
        return False, str(exc).splitlines()[0][:300]
    except Exception as exc:  # rattler-build's own errors
        return False, f"{type(exc).__name__}: {exc}"[:300]
    return True, ""


# --- scoring -------------------------------------------------------------------------------


def score_package(truth: dict[str, Any], got: dict[str, Any] | None) -> dict[str, Any]:
    from stockyard.types.licenses import normalize_license

    true_run = {norm(n) for n in truth["run"]}
    true_host = {norm(n) for n in truth["host"]}
    run = set(got["run"]) if got else set()
    host = set(got["host"]) if got else set()
    true_license = normalize_license(truth["license"])
    their_license = normalize_license(got["license"]) if got and got["license"] else None
    return {
        "generated": got is not None,
        "run_hits": len(run & true_run),
        "run_generated": len(run),
        "run_truth": len(true_run),
        "run_missing": sorted(true_run - run),
        "run_extra": sorted(run - true_run),
        "host_hits": len(host & true_host),
        "host_truth": len(true_host),
        "host_missing": sorted(true_host - host),
        "noarch_ok": got is not None
        and (got["noarch"] == "python") == (truth["noarch"] == "python"),
        "noarch": got["noarch"] if got else None,
        "license_ok": got is not None
        and true_license is not None
        and true_license == their_license,
        "license": their_license if got else None,
        "license_raw": got["license"] if got else None,
    }


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 3) if den else None


def aggregate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    run_hits = sum(r["run_hits"] for r in rows)
    return {
        "packages": len(rows),
        "generated": sum(r["generated"] for r in rows),
        "run_precision": _ratio(run_hits, sum(r["run_generated"] for r in rows)),
        "run_recall": _ratio(run_hits, sum(r["run_truth"] for r in rows)),
        "run_exact": sum(
            r["generated"] and not r["run_missing"] and not r["run_extra"] for r in rows
        ),
        "host_recall": _ratio(
            sum(r["host_hits"] for r in rows), sum(r["host_truth"] for r in rows)
        ),
        "noarch_agreement": _ratio(sum(r["noarch_ok"] for r in rows), len(rows)),
        "license_agreement": _ratio(sum(r["license_ok"] for r in rows), len(rows)),
        "renders": _ratio(
            sum(bool(r["renders"]) for r in rows), sum(r["renders"] is not None for r in rows)
        ),
        "seconds": _seconds(rows),
    }


def _seconds(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Median and mean wall and CPU seconds per round (`cold`, `warm`)."""
    found: dict[str, Any] = {}
    for round_ in ("cold", "warm"):
        timings = [r["seconds"][round_] for r in rows if round_ in r["seconds"]]
        timings = [t for t in timings if t["wall"]]
        if not timings:
            continue
        found[round_] = {
            f"{kind}_{stat}": round(fn([t[kind] for t in timings]), 2)
            for kind in ("wall", "cpu", "shim_upstream")
            for stat, fn in (("median", statistics.median), ("mean", statistics.fmean))
        }
    return found


def worst(rows: list[dict[str, Any]], count: int = 6) -> list[dict[str, Any]]:
    def badness(r: dict[str, Any]) -> tuple[int, int, int]:
        wrong = len(r["run_missing"]) + len(r["run_extra"])
        return (not r["generated"], wrong + (not r["noarch_ok"]) + (not r["license_ok"]), 0)

    keep = ("package", "generated", "run_missing", "run_extra", "noarch", "license_raw", "error")
    ranked = sorted(rows, key=badness, reverse=True)[:count]
    return [{k: r.get(k) for k in keep} for r in ranked]


def bench_tool(tool: str, truths: dict[str, Any], ctx: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for name, truth in truths.items():
        out, timings = generate(tool, name, truth, ctx)
        recipe = out / "recipe.yaml"
        if not recipe.exists() and (out / "meta.yaml").exists():
            recipe = out / "meta.yaml"
        rounded = {r: {k: round(v, 3) for k, v in t.items()} for r, t in timings.items()}
        row: dict[str, Any] = {"package": name, "seconds": rounded}
        row.update(score_package(truth, read_recipe(recipe, name)))
        ok, error = renders(recipe)
        row["renders"] = ok
        if not row["generated"] or ok is False:
            tail = (out / "stderr.txt").read_text() if (out / "stderr.txt").exists() else ""
            row["error"] = error if recipe.exists() else tail.strip().splitlines()[-1:]
        rows.append(row)
        walls = " ".join(f"{r} {t['wall']:5.2f}s/{t['cpu']:5.2f}cpu" for r, t in timings.items())
        print(f"{tool:14} {name:20} {walls} renders={ok}", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache/stockyard-bench-recipes"
    )
    parser.add_argument("--grayskull", type=Path, help="grayskull executable (its own venv)")
    parser.add_argument("--only", help="comma-separated feedstock names")
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--refresh", action="store_true", help="run the tools again")
    parser.add_argument(
        "--rounds", default="cold,warm", help="cold (shim cache empty), warm, or both"
    )
    parser.add_argument(
        "--pypi-direct",
        action="store_true",
        help="stockyard reads pypi.org itself instead of the peers' shim (the old setup)",
    )
    args = parser.parse_args()
    truths: dict[str, Any] = json.loads(TRUTH.read_text())["packages"]
    if args.only:
        truths = {k: v for k, v in truths.items() if k in args.only.split(",")}
    gs = args.grayskull if args.grayskull and args.grayskull.exists() else None
    out: dict[str, Any] = {"packages": len(truths), "grayskull_available": gs is not None}
    state = {"cache": args.cache / "pypi"}
    out["rounds"] = args.rounds.split(",")
    out["stockyard_pypi"] = "pypi.org" if args.pypi_direct else "shim"
    with pypi_shim(state) as shim:
        ctx = {
            "cache": args.cache,
            "refresh": args.refresh,
            "shim": shim,
            "grayskull": gs,
            "state": state,
            "warm": args.cache / "pypi",
            "rounds": out["rounds"],
            "pypi_direct": args.pypi_direct,
        }
        per_tool = {tool: bench_tool(tool, truths, ctx) for tool in args.tools.split(",")}
    compiled = {k for k, v in truths.items() if not v["noarch"]}
    out["aggregate"] = {tool: aggregate(rows) for tool, rows in per_tool.items()}
    out["aggregate_compiled"] = {
        tool: aggregate([r for r in rows if r["package"] in compiled])
        for tool, rows in per_tool.items()
    }
    out["worst"] = {tool: worst(rows) for tool, rows in per_tool.items()}
    out["per_package"] = per_tool
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
