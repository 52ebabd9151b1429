"""Which upstream records a mirror holds, and why (the filter language, docs/howto-mirror.md).

Precedence, in the order the selection applies it:

1. `--subdir`: only these subdirs are read at all.
2. Hard filters, each able to keep a record out whatever else says: `--exclude` specs, the
   date window (`--newer-than`, `--older-than`) and the license policy. Records passing all of
   them form the *pool*; nothing outside the pool is ever mirrored, not even as a dependency.
3. Roots: the pool records matching an `--include` spec (every pool record without
   `--include`).
4. `--latest N`, per spec: of the records an `--include` spec matches, only the N newest
   versions of each package name in each subdir (every build of those versions); without
   `--include`, the N newest versions of every name in every subdir.
5. `--with-dependencies`: the dependency closure of the roots within the pool. Each `depends`
   entry of a selected record is a MatchSpec; every pool record it matches (in the record's own
   subdir and `noarch`; from `noarch`, in every mirrored subdir) is selected, again limited by
   `--latest N` per dependency spec, until nothing new is added. Virtual packages (`__glibc`)
   are provided by the installing machine, never mirrored.

The closure, not a solve: a solve picks one environment for one set of virtual packages and
one point in time, so a mirror built from it breaks as soon as a client solves with another
Python, another glibc or one more spec. The closure holds every record any solve of the
included specs could pick from the pool, so a solver finds on the mirror the same environment
it finds upstream, and it costs one pass over the records instead of a SAT solve per subdir.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from stockyard.mirror.closure import DependencyClosure
from stockyard.mirror.errors import FilterError
from stockyard.mirror.license_policy import LicensePolicy
from stockyard.mirror.records import Candidate
from stockyard.mirror.selection import Selection, newest_versions
from stockyard.mirror.specs import Spec


@dataclass(frozen=True, slots=True)
class MirrorFilters:
    """The filters as given on the command line (or a channel's mirror policy)."""

    subdirs: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    with_dependencies: bool = False
    latest: int | None = None
    newer_than: datetime | None = None
    older_than: datetime | None = None
    licenses: LicensePolicy = field(default_factory=LicensePolicy)

    def compile(self) -> CompiledFilters:
        """Parse every spec (FilterError naming the bad one) before anything is fetched."""
        if self.latest is not None and self.latest < 1:
            raise FilterError(f"--latest must be 1 or more, not {self.latest}")
        if self.newer_than and self.older_than and self.newer_than >= self.older_than:
            raise FilterError(
                "--newer-than must be before --older-than: no record can pass both",
                hint="Swap the dates, or give only one of them.",
            )
        return CompiledFilters(
            self,
            include=[Spec.parse(s, "--include") for s in self.include],
            exclude=[Spec.parse(s, "--exclude") for s in self.exclude],
        )


@dataclass(slots=True)
class CompiledFilters:
    filters: MirrorFilters
    include: list[Spec]
    exclude: list[Spec]

    def hard_refusal(self, candidate: Candidate) -> str | None:
        """Why a hard filter keeps `candidate` out (precedence step 2), or None."""
        for spec in self.exclude:
            if spec.matches(candidate):
                return f"excluded by --exclude {spec.text!r}"
        window = self._date_refusal(candidate)
        if window is not None:
            return window
        policy = self.filters.licenses
        if policy.active:
            verdict = policy.judge(candidate.record.get("license"))
            if not verdict.accepted:
                return verdict.reason
        return None

    def _date_refusal(self, candidate: Candidate) -> str | None:
        newer, older = self.filters.newer_than, self.filters.older_than
        if newer is None and older is None:
            return None
        stamp = candidate.timestamp_ms
        if stamp is None:
            return "has no timestamp, so it cannot pass --newer-than/--older-than"
        if newer is not None and stamp < newer.timestamp() * 1000:
            return f"built {_iso(stamp)}, before --newer-than {newer.isoformat()}"
        if older is not None and stamp >= older.timestamp() * 1000:
            return f"built {_iso(stamp)}, not before --older-than {older.isoformat()}"
        return None

    def roots(self, pool: list[Candidate], selection: Selection) -> list[Candidate]:
        """Precedence steps 3 and 4: the included records, limited by --latest per spec."""
        latest = self.filters.latest
        if not self.include:
            chosen = newest_versions(pool, latest) if latest else pool
            reason = "no --include: every record passing the filters"
            if latest:
                reason = f"among the {latest} newest versions of its name"
            selection.choose_all(chosen, reason)
            return chosen
        roots: list[Candidate] = []
        for spec in self.include:
            matched = list(spec.select(pool))
            kept = newest_versions(matched, latest) if latest else matched
            why = f"matches --include {spec.text!r}"
            newest = f" (among its {latest} newest versions)" if latest else ""
            roots.extend(selection.choose_new(kept, why + newest))
            for dropped in set(matched) - set(kept):
                selection.note(dropped, f"{why}, but is not among its {latest} newest versions")
        return roots


def _iso(stamp_ms: int) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(stamp_ms / 1000, tz=UTC).isoformat(timespec="seconds")


def select_records(candidates: Iterable[Candidate], compiled: CompiledFilters) -> Selection:
    """Apply the filters (in the precedence of the module docstring) to upstream's records."""
    selection = Selection()
    wanted = set(compiled.filters.subdirs)
    pool: list[Candidate] = []
    for candidate in candidates:
        if wanted and candidate.subdir not in wanted:
            continue
        refusal = compiled.hard_refusal(candidate)
        if refusal is None:
            pool.append(candidate)
        else:
            selection.note(candidate, refusal)
    roots = compiled.roots(pool, selection)
    if compiled.filters.with_dependencies:
        DependencyClosure(pool, compiled.filters.latest).extend(selection, roots)
    for candidate in pool:
        selection.note(candidate, _left_out_reason(compiled))
    return selection


def _left_out_reason(compiled: CompiledFilters) -> str:
    if compiled.include:
        specs = ", ".join(repr(s.text) for s in compiled.include)
        extra = " nor needed by an included record" if compiled.filters.with_dependencies else ""
        return f"matches no --include ({specs}){extra}"
    return f"not among the {compiled.filters.latest} newest versions of its name"
