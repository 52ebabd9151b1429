"""The patch YAML engine: documents compiled once into rules indexed by package name.

`load_patch_yaml(path)` reads a `.yaml`/`.yml` file or a directory of them (in sorted filename
order), validates every document (yaml_model) and compiles it (yaml_conditions, yaml_actions).
Rules apply in that order of files, and in each file in the order of its documents. Each record
is patched independently, so applying every rule to each record in turn gives the same result as
conda-forge's engine, which loops over the rules first.

**The index.** A rule whose `name` / `name_eq` / `name_in` names packages literally is filed under
those names; the others (a glob name, `not_name...`, no name condition) apply to every name whose
name conditions they pass. `rules_for(name)` is that list, in order: everything that can touch
a record of that name, and the unit a per-name cache of patched records keys on
(`name_fingerprint`). Within it, most rules are further keyed by what a record must hold
for them to match or change anything (a `has_depends` entry, an exact `artifact_in` filename,
or, from their actions, e.g. `replace_depends.old: numpy 1.*` needs a `numpy` entry), so a
record evaluates only the few rules that can apply to it (the rules of a name too, when they
have such a key). When a rule changes a record's lists, the rules after it are looked up again.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

from stockyard.patches.yaml_actions import (
    Action,
    ActionError,
    EntryTrigger,
    TrackFeaturesTrigger,
    Trigger,
    compile_action,
    entry_name,
    spec_trigger,
)
from stockyard.patches.yaml_conditions import (
    Condition,
    ConditionError,
    as_list,
    compile_condition,
)
from stockyard.patches.yaml_model import (
    ACTIONS,
    PatchDocument,
    document_error,
    load_yaml_documents,
    looks_like_patch_yaml,
    validate_document,
)
from stockyard.patches.yaml_text import TemplateError, is_glob
from stockyard.types.errors import ConfigError, InvalidMetadata

#: Part of every fingerprint: bump when the same YAML gives different records.
ENGINE_VERSION: Final = "stockyard-patch-yaml-1"
YAML_SUFFIXES: Final = (".yaml", ".yml")
_ACTION_KINDS: Final = dict(ACTIONS)
_LIST_FIELDS: Final = ("depends", "constrains")
_ENTRY_CACHE_LIMIT: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class ArtifactTrigger:
    """The artifact's filename is one of `filenames`."""

    filenames: frozenset[str]


IndexTrigger = Trigger | ArtifactTrigger


class Rule:
    """One compiled document: name conditions, other conditions (cheapest first), actions."""

    __slots__ = (
        "_names_seen",
        "actions",
        "checks",
        "conditions",
        "digest",
        "index",
        "name_conditions",
        "names",
        "order",
        "origin",
        "triggers",
    )

    def __init__(
        self,
        order: int,
        document: PatchDocument,
        conditions: Sequence[Condition],
        actions: Sequence[tuple[str, Action]],
    ) -> None:
        self.order = order
        self.origin = document.origin
        self.index = document.index
        self.name_conditions = tuple(c for c in conditions if c.field == "name")
        self.conditions = tuple(
            sorted((c for c in conditions if c.field != "name"), key=lambda c: c.cost)
        )
        self.checks = tuple(condition.check for condition in self.conditions)
        self.actions = tuple(actions)
        #: The package names the rule is restricted to; None when any name may match.
        self.names = _literal_names(document.conditions)
        #: What a record must hold for the rule to apply (any of them); None: nothing known.
        self.triggers = _rule_triggers(document.conditions, self.actions)
        self.digest = _document_digest(document)
        self._names_seen: dict[str, bool] = {}

    @property
    def where(self) -> str:
        return f"{self.origin}, document {self.index}"

    def accepts_name(self, name: str) -> bool:
        """Whether the name conditions pass for `name` (cached per name)."""
        try:
            return self._names_seen[name]
        except KeyError:
            pass
        record = {"name": name}
        accepted = all(condition(record, "", "") for condition in self.name_conditions)
        self._names_seen[name] = accepted
        return accepted

    def matches(self, record: Mapping[str, Any], subdir: str, filename: str) -> bool:
        """Whether the conditions other than the name ones hold."""
        for check in self.checks:  # noqa: SIM110 - a plain loop is faster than all()
            if not check(record, subdir, filename):
                return False
        return True

    def matches_all(self, record: Mapping[str, Any], subdir: str, filename: str) -> bool:
        """Every condition, name ones included, evaluated on the spot (no index, no cache)."""
        for condition in self.name_conditions:
            if not condition.check(record, subdir, filename):
                return False
        return self.matches(record, subdir, filename)

    def apply(self, record: dict[str, Any], subdir: str, filename: str) -> bool:
        """Run the actions on a record the caller owns; whether they changed it."""
        changed = False
        for where, action in self.actions:
            try:
                changed = action.run(record, subdir) or changed
            except (ActionError, TemplateError) as exc:
                raise InvalidMetadata(
                    f"{self.where}: {where} on {filename}: {exc}",
                    hint="Restrict the rule's `if` so it does not match this record, or fix "
                    "the action; nothing was published.",
                ) from exc
        return changed

    def __repr__(self) -> str:
        return f"Rule({self.where!r})"


def _literal_names(conditions: Mapping[str, Any]) -> frozenset[str] | None:
    names: frozenset[str] | None = None
    for key in ("name", "name_eq", "name_in"):
        if key not in conditions:
            continue
        values = as_list(conditions[key])
        if key != "name_eq" and any(is_glob(value) for value in values):
            continue
        names = frozenset(values) if names is None else names & frozenset(values)
    return names


def _condition_trigger(conditions: Mapping[str, Any]) -> IndexTrigger | None:
    """A trigger every matching record satisfies, from the positive conditions."""
    artifacts = conditions.get("artifact_in")
    if artifacts is not None and not any(is_glob(name) for name in as_list(artifacts)):
        return ArtifactTrigger(frozenset(as_list(artifacts)))
    found: list[EntryTrigger] = []
    for key in ("has_depends", "has_constrains"):
        for pattern in as_list(conditions.get(key, [])):
            trigger = spec_trigger(key[len("has_") :], pattern)
            if trigger is not None:
                found.append(trigger)
    if found:
        return min(found, key=lambda trigger: trigger.name is None)  # an exact name first
    if "has_track_features" in conditions:
        return TrackFeaturesTrigger()
    return None


def _rule_triggers(
    conditions: Mapping[str, Any], actions: Sequence[tuple[str, Action]]
) -> tuple[IndexTrigger, ...] | None:
    condition = _condition_trigger(conditions)
    if condition is not None:
        return (condition,)
    # No action can change a record that satisfies none of their triggers.
    triggers = tuple(action.trigger for _, action in actions)
    if triggers and all(trigger is not None for trigger in triggers):
        return tuple(trigger for trigger in triggers if trigger is not None)
    return None


def _document_digest(document: PatchDocument) -> bytes:
    items = [[[key, value] for key, value in item.items()] for item in document.actions]
    canonical = msgspec.json.encode([sorted(document.conditions.items()), items])
    return hashlib.sha256(canonical).digest()


def compile_rule(order: int, document: PatchDocument) -> Rule:
    """Compile one validated document; raises InvalidMetadata naming the bad key."""
    conditions = []
    for key, value in document.conditions.items():
        try:
            conditions.append(compile_condition(key, value))
        except ConditionError as exc:
            raise document_error(document.origin, document.index, f"if.{key}", str(exc)) from None
    actions = []
    for position, item in enumerate(document.actions):
        for key, value in item.items():
            where = f"then[{position}].{key}"
            try:
                actions.append((where, compile_action(key, value, _ACTION_KINDS[key])))
            except (ActionError, TemplateError) as exc:
                raise document_error(document.origin, document.index, where, str(exc)) from None
    return Rule(order, document, conditions, actions)


def _sorted_rules(rules: Any) -> tuple[Rule, ...]:
    return tuple(sorted(rules, key=lambda rule: rule.order))


class _TriggerIndex:
    """Rules filed by their triggers: what a record must hold for them to apply."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.by_filename: dict[str, list[Rule]] = {}
        self.by_name: dict[str, dict[str, list[tuple[EntryTrigger, Rule]]]] = {}
        self.by_prefix: dict[str, list[tuple[EntryTrigger, Rule]]] = {}
        self.on_track_features: list[Rule] = []
        for rule in rules:
            for trigger in rule.triggers or ():
                self._file(trigger, rule)
        fields = {*self.by_name, *self.by_prefix}
        #: field -> entry -> the rules it triggers (entries repeat across records a lot).
        self.cache: dict[str, dict[Any, tuple[Rule, ...]]] = {
            field: {} for field in _LIST_FIELDS if field in fields
        }

    def _file(self, trigger: IndexTrigger, rule: Rule) -> None:
        if isinstance(trigger, ArtifactTrigger):
            for filename in trigger.filenames:
                self.by_filename.setdefault(filename, []).append(rule)
        elif isinstance(trigger, TrackFeaturesTrigger):
            self.on_track_features.append(rule)
        elif trigger.name is not None:
            named = self.by_name.setdefault(trigger.field, {})
            named.setdefault(trigger.name, []).append((trigger, rule))
        else:
            self.by_prefix.setdefault(trigger.field, []).append((trigger, rule))

    def entry_rules(self, field: str, entry: Any) -> tuple[Rule, ...]:
        """The rules `entry` of the `field` list triggers (cached)."""
        cache = self.cache[field]
        try:
            return cache[entry]
        except KeyError:
            pass
        except TypeError:  # an unhashable entry: no pattern matches it
            return ()
        found: set[Rule] = set()
        if isinstance(entry, str):
            candidates = [
                *self.by_name.get(field, {}).get(entry_name(entry), ()),
                *self.by_prefix.get(field, ()),
            ]
            found = {rule for trigger, rule in candidates if trigger.accepts(entry)}
        if len(cache) >= _ENTRY_CACHE_LIMIT:
            cache.clear()
        cache[entry] = result = _sorted_rules(found)
        return result

    def hits(self, record: Mapping[str, Any], filename: str) -> set[Rule] | None:
        """The rules the record triggers, None when none."""
        hits: set[Rule] | None = None
        if self.by_filename:
            by_filename = self.by_filename.get(filename)
            if by_filename:
                hits = set(by_filename)
        for field, cache in self.cache.items():
            entries = record.get(field)
            if not entries or type(entries) is not list:
                continue
            try:
                found = list(map(cache.get, entries))  # the hot loop, in C
            except TypeError:
                found = [self.entry_rules(field, entry) for entry in entries]
            if None in found:
                found = [
                    self.entry_rules(field, entry) if rules is None else rules
                    for entry, rules in zip(entries, found, strict=True)
                ]
            for rules in filter(None, found):
                if hits is None:
                    hits = set(rules)
                else:
                    hits.update(rules)
        if self.on_track_features and record.get("track_features") is not None:
            hits = {*(hits or ()), *self.on_track_features}
        return hits


class _NamePlan:
    """What to evaluate for records of one package name."""

    __slots__ = ("always", "triggered")

    def __init__(self, always: tuple[Rule, ...], triggered: _TriggerIndex | None) -> None:
        #: Rules without a trigger: tested on every record of the name.
        self.always = always
        #: The name's own rules that have triggers.
        self.triggered = triggered


class PatchYamlRules:
    """Compiled patch YAML rules with their per-name index (see the module docstring)."""

    def __init__(self, rules: Sequence[Rule], fingerprint: str = "") -> None:
        self.rules = tuple(rules)
        self.fingerprint = fingerprint or _rules_fingerprint(self.rules)
        self._by_name: dict[str, list[Rule]] = {}
        open_rules: list[Rule] = []
        for rule in self.rules:
            if rule.names is not None:
                for name in rule.names:
                    self._by_name.setdefault(name, []).append(rule)
            else:
                open_rules.append(rule)
        #: Rules for any name (subject to their name conditions): always tested, or triggered.
        self._open_all = tuple(open_rules)
        self._open = [rule for rule in open_rules if rule.triggers is None]
        self._open_triggered = _TriggerIndex([r for r in open_rules if r.triggers is not None])
        self._plans: dict[str, _NamePlan] = {}

    # --- lookups -------------------------------------------------------------------------------

    def _plan(self, name: str) -> _NamePlan:
        plan = self._plans.get(name)
        if plan is None:
            own = [rule for rule in self._by_name.get(name, ()) if rule.accepts_name(name)]
            always = [rule for rule in own if rule.triggers is None]
            always += [rule for rule in self._open if rule.accepts_name(name)]
            triggered = [rule for rule in own if rule.triggers is not None]
            plan = _NamePlan(_sorted_rules(always), _TriggerIndex(triggered) if triggered else None)
            self._plans[name] = plan
        return plan

    def _candidates(self, name: str, record: Mapping[str, Any], filename: str) -> Sequence[Rule]:
        plan = self._plans.get(name) or self._plan(name)
        hits = self._open_triggered.hits(record, filename)
        if hits:
            hits = {rule for rule in hits if not rule.name_conditions or rule.accepts_name(name)}
        if plan.triggered is not None:
            own = plan.triggered.hits(record, filename)
            if own:
                hits = own if not hits else hits | own
        if not hits:
            return plan.always
        return _sorted_rules({*plan.always, *hits})

    def rules_for(self, name: str) -> tuple[Rule, ...]:
        """Every rule that can change a record named `name`, in application order: the rules
        naming it literally and the open ones (glob or no name condition) that accept it."""
        own = [rule for rule in self._by_name.get(name, ()) if rule.accepts_name(name)]
        return _sorted_rules([*own, *(r for r in self._open_all if r.accepts_name(name))])

    def name_fingerprint(self, name: str) -> str:
        """Changes whenever the rules that can touch records named `name` change."""
        digest = hashlib.sha256(ENGINE_VERSION.encode())
        for rule in self.rules_for(name):
            digest.update(rule.digest)
        return digest.hexdigest()

    # --- patching ------------------------------------------------------------------------------

    def patch_record(self, filename: str, record: dict[str, Any], subdir: str) -> dict[str, Any]:
        """The record after every rule: `record` itself when no rule matched, else a new dict
        (equal to it when the matching rules changed nothing). Never mutates `record`."""
        name = record.get("name")
        if type(name) is not str:
            name = ""
        candidates = self._candidates(name, record, filename)
        if not candidates:
            return record
        state = record
        position = 0
        while position < len(candidates):
            rule = candidates[position]
            position += 1
            for check in rule.checks:
                if not check(state, subdir, filename):
                    break
            else:
                if state is record:
                    state = _owned_copy(record)
                if rule.apply(state, subdir, filename):
                    # What later rules can match depends on the lists just changed.
                    later = self._candidates(name, state, filename)
                    candidates = [other for other in later if other.order > rule.order]
                    position = 0
        return state

    def patch_record_linear(
        self, filename: str, record: dict[str, Any], subdir: str
    ) -> dict[str, Any]:
        """The same result the straightforward way: every rule tested against the record, in
        order, without the index (the baseline of benchmarks/patches.py)."""
        state = record
        for rule in self.rules:
            if rule.matches_all(state, subdir, filename):
                if state is record:
                    state = _owned_copy(record)
                rule.apply(state, subdir, filename)
        return state

    def explain(
        self, filename: str, record: dict[str, Any], subdir: str
    ) -> list[tuple[str, list[str]]]:
        """Which rules change `record`, in order, and the keys each one changed: (where the rule
        is, e.g. `numpy.yaml, document 3`, keys). For the web UI; the linear way, one record."""
        state = _owned_copy(record)
        out: list[tuple[str, list[str]]] = []
        for rule in self.rules_for(str(record.get("name") or "")):
            if not rule.matches_all(state, subdir, filename):
                continue
            before = {key: _owned_copy({key: value})[key] for key, value in state.items()}
            if rule.apply(state, subdir, filename):
                keys = sorted(
                    k for k in state.keys() | before.keys() if state.get(k) != before.get(k)
                )
                if keys:
                    out.append((rule.where, keys))
        return out

    def changed_records(
        self, repodata: Mapping[str, Any], subdir: str
    ) -> dict[str, dict[str, Any]]:
        """filename -> patched record, for the records of `packages` and `packages.conda` the
        rules change."""
        changed: dict[str, dict[str, Any]] = {}
        patch = self.patch_record
        for section in ("packages", "packages.conda"):
            records = repodata.get(section) or {}
            for filename, record in records.items():
                patched = patch(filename, record, subdir)
                if patched is not record and patched != record:
                    changed[filename] = patched
        return changed


def _owned_copy(record: Mapping[str, Any]) -> dict[str, Any]:
    """A copy whose lists the actions may edit in place."""
    copy = dict(record)
    for field in _LIST_FIELDS:
        value = copy.get(field)
        if isinstance(value, list):
            copy[field] = list(value)
    return copy


def _rules_fingerprint(rules: Sequence[Rule]) -> str:
    digest = hashlib.sha256(ENGINE_VERSION.encode())
    for rule in rules:
        digest.update(rule.digest)
    return digest.hexdigest()


def compile_rules(documents: Sequence[PatchDocument], fingerprint: str = "") -> PatchYamlRules:
    """Compile validated documents, in the order given, into an indexed rule set."""
    return PatchYamlRules(
        [compile_rule(order, document) for order, document in enumerate(documents)], fingerprint
    )


def patch_yaml_files(path: Path) -> list[Path]:
    """The patch files `path` names: itself, or a directory's `*.yaml`/`*.yml` files sorted by
    name (a conda-forge `recipe/` directory: its `patch_yaml/`)."""
    if not path.is_dir():
        return [path]
    files = sorted(
        (child for child in path.iterdir() if child.suffix in YAML_SUFFIXES and child.is_file()),
        key=lambda child: child.name,
    )
    if not files and (path / "patch_yaml").is_dir():
        return patch_yaml_files(path / "patch_yaml")
    if not files:
        raise ConfigError(
            f"{path} holds no patch YAML files (*.yaml, *.yml)",
            hint="Pass a patch YAML file or a directory of them.",
        )
    return files


_compiled: OrderedDict[tuple[str, str], PatchYamlRules] = OrderedDict()
_COMPILED_LIMIT: Final = 8


def load_patch_yaml(path: Path, *, cached: bool = True) -> PatchYamlRules:
    """Read, validate and compile a patch YAML file or directory (see `patch_yaml_files`).

    Raises InvalidMetadata naming the file, the document's index and the key for invalid YAML
    or a document the format rejects; ConfigError when there is nothing to read, or when no
    document is a patch (no `if`/`then`: some other YAML file). The same path and bytes give
    the same (shared) compiled rules unless `cached` is false: every commit loads the channel's
    patch source, and parsing a set the size of conda-forge's takes a good fraction of a second.
    """
    digest = hashlib.sha256(ENGINE_VERSION.encode() + b"\n")
    contents = []
    for file in patch_yaml_files(path):
        raw = file.read_bytes()
        digest.update(file.name.encode() + b"\0" + hashlib.sha256(raw).digest())
        contents.append((file, raw))
    fingerprint = digest.hexdigest()
    key = (str(path.resolve()), fingerprint)
    known = _compiled.get(key) if cached else None
    if known is not None:
        _compiled.move_to_end(key)
        return known
    rules = compile_rules(_validated(path, contents), fingerprint)
    _compiled[key] = rules
    while len(_compiled) > _COMPILED_LIMIT:
        _compiled.popitem(last=False)
    return rules


def _validated(path: Path, contents: list[tuple[Path, bytes]]) -> list[PatchDocument]:
    parsed: list[tuple[str, int, Any]] = []
    for file, raw in contents:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMetadata(
                f"{file}: not UTF-8 text ({exc})", hint="Save the patch file as UTF-8."
            ) from None
        parsed += [(str(file), index, data) for index, data in load_yaml_documents(text, str(file))]
    if parsed and not any(looks_like_patch_yaml(data) for _, _, data in parsed):
        raise ConfigError(
            f"{path}: unknown kind of patch source: YAML, but no document has `if:` and `then:`",
            hint="A patch YAML document is an `if:` mapping of conditions and a `then:` list of "
            "actions (docs/specs/patch-yaml.md).",
        )
    return [validate_document(data, origin, index) for origin, index, data in parsed]
