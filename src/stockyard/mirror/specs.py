"""MatchSpecs as the mirror's filters use them: parsed once with py-rattler, matched against
upstream records (only those of the spec's name, when it names one)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stockyard.mirror.errors import FilterError
from stockyard.mirror.records import Candidate

if TYPE_CHECKING:
    from rattler import MatchSpec


@dataclass(frozen=True, slots=True)
class Spec:
    """A parsed MatchSpec with the text it was given as."""

    text: str
    match_spec: MatchSpec
    #: The exact package name, when the spec names one (lets matching skip other names).
    exact_name: str | None

    @classmethod
    def parse(cls, text: str, option: str, *, globs: bool = True) -> Spec:
        from rattler import MatchSpec  # here: runs without specs never import rattler

        try:
            spec = MatchSpec(text, exact_names_only=not globs)
        except Exception as exc:  # rattler raises InvalidMatchSpecError, not exported stably
            raise FilterError(
                f"{option} {text!r} is not a MatchSpec: {exc}",
                hint="Use conda MatchSpecs such as 'numpy >=1.26', 'python 3.12.*', "
                "'libblas=*=*mkl', 'py*'.",
            ) from None
        name = spec.name.as_package_name() if spec.name is not None else None
        return cls(text, spec, name.normalized if name is not None else None)

    def matches(self, candidate: Candidate) -> bool:
        if self.exact_name is not None and candidate.name != self.exact_name:
            return False
        record = candidate.rattler
        return record is not None and bool(self.match_spec.matches(record))

    def select(self, candidates: Iterable[Candidate]) -> Iterator[Candidate]:
        return (c for c in candidates if self.matches(c))
