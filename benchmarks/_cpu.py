"""CPU time used by process trees and by the whole machine during a measured interval.

A benchmark on a 2-core machine must say what limits its numbers: the server processes, the
proxy in front, the storage emulator, the load generator, or other jobs on the machine. Times
come from /proc (`utime + stime` of every live process of a tree; the load generator, a child
this process waits for, from `RUSAGE_CHILDREN`), so nothing is sampled: one snapshot before and
one after.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from _measure import _children_map

_TICK = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().decode(errors="replace").rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime (after the state field)


def tree_ticks(roots: Iterable[int], tree: dict[int, list[int]] | None = None) -> dict[int, int]:
    """CPU ticks used so far by each live process of the trees under `roots`."""
    tree = _children_map() if tree is None else tree
    out: dict[int, int] = {}
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in out:
            continue
        out[pid] = _ticks(pid)
        stack.extend(tree.get(pid, []))
    return out


def _used(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds between two snapshots, per process (a process that ended in between is not
    counted; one that started is counted whole), so short-lived processes never subtract."""
    return sum(ticks - before.get(pid, 0) for pid, ticks in after.items()) / _TICK


def pids_named(command: str) -> list[int]:
    """Every process whose command name (`/proc/PID/comm`) is `command`."""
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/comm") as handle:
                    if handle.read().strip() == command:
                        found.append(int(entry.name))
            except OSError:
                continue
    return found


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent on anything but idling and waiting for I/O, since boot."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return (sum(values[:8]) - idle) / _TICK


def _children_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _snapshot(groups: dict[str, Callable[[], list[int]]]) -> dict[str, dict[int, int]]:
    tree = _children_map()
    return {name: tree_ticks(pids(), tree) for name, pids in groups.items()}


@contextmanager
def cpu_meter(
    groups: dict[str, Callable[[], list[int]]], waited_child: str | None = None
) -> Iterator[dict[str, Any]]:
    """Measure the block: yields a dict filled on exit with the cores each group used on
    average (CPU seconds / wall seconds), `waited_child` if given (children reaped during the block,
    e.g. wrk run with subprocess.run), this process (`benchmark`: its client threads), the whole
    machine, and `other` (the machine minus all of those: other jobs)."""
    result: dict[str, Any] = {}
    before = _snapshot(groups)
    machine, children, own = machine_busy_seconds(), _children_seconds(), _own_seconds()
    started = time.perf_counter()
    try:
        yield result
    finally:
        wall = time.perf_counter() - started
        after = _snapshot(groups)
        cores = {name: round(_used(before[name], after[name]) / wall, 2) for name in groups}
        if waited_child is not None:
            cores[waited_child] = round((_children_seconds() - children) / wall, 2)
        cores["benchmark"] = round((_own_seconds() - own) / wall, 2)
        busy = round((machine_busy_seconds() - machine) / wall, 2)
        result.update(
            cores=cores,
            machine_cores=busy,
            other_cores=round(busy - sum(cores.values()), 2),
            cpus=os.cpu_count(),
        )
