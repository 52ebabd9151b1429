"""msgspec's first conversion into a Struct is not thread safe; the server warms every Struct
first (stockyard.types.struct_warmup)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stockyard.types.records import IndexJson, PackageRecord, RunExports
from stockyard.types.struct_warmup import warm_struct_types

#: Eight threads convert into two Structs at once in a fresh interpreter, with the GIL switching
#: as often as it can. Without the warm-up this crashed (SIGSEGV in msgspec's `convert`) in
#: about 1 of 100 runs here; `warm` prepares the Structs first, as `create_app` does.
RACE = """
import sys, threading
sys.setswitchinterval(1e-6)
import msgspec
from stockyard.types.records import IndexJson, PackageRecord
if sys.argv[1] == "warm":
    from stockyard.types.struct_warmup import warm_struct_types
    warm_struct_types()
data = {"name": "a", "version": "1.0", "build": "0", "build_number": 0, "depends": [],
        "subdir": "noarch", "license": "MIT", "timestamp": 1700000000000}
barrier = threading.Barrier(8)
def work(i):
    barrier.wait()
    msgspec.convert(data, (IndexJson, PackageRecord)[i % 2])
threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_every_record_struct_is_prepared() -> None:
    prepared = warm_struct_types()
    assert {IndexJson, PackageRecord, RunExports} <= set(prepared)
    assert all(cls.__module__.startswith("stockyard.") for cls in prepared)


def test_the_server_warms_before_it_serves(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from stockyard.config import load_settings
    from stockyard.server import app as app_module
    from stockyard.server.channels import bootstrap

    calls = []
    monkeypatch.setattr(app_module, "warm_struct_types", lambda: calls.append(1) or [])
    settings = load_settings(env={}, overrides={"data_dir": str(tmp_path / "data")})
    bootstrap(settings)
    app_module.create_app(settings)
    assert calls == [1]


def test_warmed_structs_survive_concurrent_first_conversions() -> None:
    for _ in range(10):
        run = subprocess.run([sys.executable, "-c", RACE, "warm"], capture_output=True, timeout=60)
        assert run.returncode == 0, run.stderr.decode()[-2000:]
