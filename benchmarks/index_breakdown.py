"""Where the time of `stockyard index CHANNEL --json` after adding one artifact goes.

Each round runs a fresh interpreter that imports the heavy libraries one by one, then runs the
command as `stockyard` does (Typer included) and reports the phases of the run; the artifact is
removed again (and the channel indexed, unmeasured) before the next round. Prints, per part, the
fastest and the median round in seconds, as JSON. The channel must have been indexed once.

    .venv/bin/python benchmarks/index_breakdown.py CHANNEL_DIR ARTIFACT [--rounds 5]

`benchmarks/index.py` measures the whole command against rattler-index; this splits it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_ROUND = r"""
import contextlib, io, json, sys, time
parts = {}
def timed(name, code):
    started = time.perf_counter()
    exec(code, globals())
    parts[name] = time.perf_counter() - started
timed("import stockyard.cli.main (typer, msgspec)", "import stockyard.cli.main as cli")
timed("import sqlalchemy", "import sqlalchemy")
timed("import filelock", "import filelock")
timed("import rattler", "import rattler")
timed("import stockyard.index.run (the rest)", "import stockyard.index.run as run")
timed("import stockyard.patches.sources (yaml)", "import stockyard.patches.sources")
timed("register the index command", "cli._register(['index'])")
real, seen = run.index_channel, {}
def index_channel(*args, **kwargs):
    seen["start"] = time.perf_counter()
    seen["result"] = real(*args, **kwargs)
    seen["end"] = time.perf_counter()
    return seen["result"]
run.index_channel = index_channel
started = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    cli.app(args=["index", sys.argv[1], "--json"], standalone_mode=False)
parts["Typer: parse and convert the options"] = seen["start"] - started
parts["index_channel"] = seen["end"] - seen["start"]
for phase, seconds in seen["result"].timings.items():
    parts[f"  {phase}"] = seconds
parts["  open catalog, lock, policy, remember scans"] = parts["index_channel"] - sum(
    seen["result"].timings.values()
)
print(json.dumps(parts))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("channel", type=Path)
    parser.add_argument("artifact", type=Path, help="added to <channel>/<its subdir>/")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stockyard-breakdown-") as cache:
        # Bytecode cached, as an installed program runs (see benchmarks/index.py).
        env = dict(os.environ, PYTHONPYCACHEPREFIX=cache)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        target = args.channel / args.artifact.parent.name / args.artifact.name
        index = [sys.executable, "-m", "stockyard.cli.main", "index", str(args.channel), "--json"]
        subprocess.run(index, env=env, check=True, capture_output=True)  # warms the cache
        rounds = []
        for _ in range(args.rounds):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
            interpreter = time.perf_counter() - started
            shutil.copy2(args.artifact, target)
            out = subprocess.run(
                [sys.executable, "-c", _ROUND, str(args.channel)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            rounds.append({"interpreter start (python -c pass)": interpreter, **json.loads(out)})
            target.unlink()
            subprocess.run(index, env=env, check=True, capture_output=True)
    summary = {
        part: {
            "min": round(min(r[part] for r in rounds), 4),
            "median": round(sorted(r[part] for r in rounds)[len(rounds) // 2], 4),
        }
        for part in rounds[0]
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
