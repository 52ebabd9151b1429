"""Check decoded data against the Structs of `stockyard.types`, reporting every problem.

msgspec stops at the first error and its error paths lose dict keys (`$.packages[...].name`).
`check` first converts the whole value (the fast path: valid data costs one msgspec call); only
when that fails does it walk the *type* — Struct fields, dict keys and values, list items, the
matching member of a union — and convert each part on its own, so every error is found and gets
an exact RFC 6901 pointer. The walk is driven by the type annotations of the Structs themselves;
there is no second schema here.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from typing import Any

import msgspec

from stockyard.types.problems import Problem

#: Decoded msgpack carries `bytes` already; a `str` must not pass as base64 for a `bytes` field.
_PASS_THROUGH = (bytes, bytearray)


def escape(token: object) -> str:
    """One RFC 6901 reference token."""
    return str(token).replace("~", "~0").replace("/", "~1")


def join(pointer: str, token: object) -> str:
    return f"{pointer}/{escape(token)}"


def check(value: Any, tp: Any, pointer: str = "") -> list[Problem]:
    """Every problem of `value` against the type `tp`, with pointers under `pointer`."""
    out: list[Problem] = []
    _check(value, tp, pointer, out)
    return out


def is_valid(value: Any, tp: Any) -> bool:
    try:
        msgspec.convert(value, tp, builtin_types=_PASS_THROUGH)
    except msgspec.ValidationError:
        return False
    return True


def struct_field_types(struct: type[msgspec.Struct]) -> dict[str, Any]:
    """Encoded field name -> field type, for checking single keys against a Struct's fields."""
    return {name: tp for name, tp, _required in _fields(struct)}


@functools.cache
def _fields(struct: type[msgspec.Struct]) -> tuple[tuple[str, Any, bool], ...]:
    """(encoded name, type, required) of each field. Cached: msgspec re-evaluates the
    annotations on every `msgspec.structs.fields` call (~1 ms), and a broken repodata asks once
    per record."""
    return tuple((f.encode_name, f.type, f.required) for f in msgspec.structs.fields(struct))


def _check(value: Any, tp: Any, pointer: str, out: list[Problem]) -> None:
    try:
        msgspec.convert(value, tp, builtin_types=_PASS_THROUGH)
        return
    except msgspec.ValidationError as exc:
        error = exc
    before = len(out)
    target = _decomposable(tp, value)
    if isinstance(target, type) and issubclass(target, msgspec.Struct):
        _check_struct(value, target, pointer, out)
    elif typing.get_origin(target) is dict:
        _check_dict(value, target, pointer, out)
    elif typing.get_origin(target) is list:
        (item_type,) = typing.get_args(target)
        for index, item in enumerate(value):
            _check(item, item_type, join(pointer, index), out)
    if len(out) == before:
        # Not decomposable (a leaf, an ambiguous union) or the error is about the container
        # itself: report msgspec's own message at the place it names.
        out.append(_from_error(error, value, tp, pointer))


def _check_struct(
    value: dict[Any, Any], struct: type[msgspec.Struct], pointer: str, out: list[Problem]
) -> None:
    missing = []
    for name, tp, required in _fields(struct):
        if name in value:
            _check(value[name], tp, join(pointer, name), out)
        elif required:
            missing.append(repr(name))
    if missing:
        keys = "key" if len(missing) == 1 else "keys"
        out.append(Problem(pointer, f"missing required {keys} {', '.join(missing)}"))


def _check_dict(value: dict[Any, Any], tp: Any, pointer: str, out: list[Problem]) -> None:
    key_type, value_type = typing.get_args(tp)
    for key, item in value.items():
        here = join(pointer, key)
        if not is_valid(key, key_type):
            problem = _from_error(_error_of(key, key_type), key, key_type, here)
            out.append(Problem(here, f"invalid key: {problem.message}"))
        _check(item, value_type, here, out)


def _error_of(value: Any, tp: Any) -> msgspec.ValidationError:
    try:
        msgspec.convert(value, tp, builtin_types=_PASS_THROUGH)
    except msgspec.ValidationError as exc:
        return exc
    raise AssertionError("value is valid")  # pragma: no cover - callers check first


def _strip_annotated(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _union_members(tp: Any) -> list[Any]:
    tp = _strip_annotated(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _union_members(arg)]
    return [tp]


def _json_kind(tp: Any) -> str:
    """What JSON shape a (non-union) type decodes from."""
    base = _strip_annotated(tp)
    origin = typing.get_origin(base)
    if (isinstance(base, type) and issubclass(base, msgspec.Struct)) or base is dict:
        return "object"
    if origin is dict:
        return "object"
    if base is list or origin in (list, tuple, set, frozenset):
        return "array"
    if origin is typing.Literal:
        return _value_kind(typing.get_args(base)[0])
    for py_type, kind in _KINDS_OF_TYPES:
        if base is py_type:
            return kind
    return "any"


def _value_kind(value: Any) -> str:
    for py_type, kind in _KINDS_OF_TYPES:
        if type(value) is py_type:
            return kind
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return "other"


_KINDS_OF_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "string"),
    (bytes, "bytes"),
    (type(None), "null"),
)


def _decomposable(tp: Any, value: Any) -> Any:
    """The container type to walk into for `value`, or None when `tp` is a leaf for it.

    For a union, the member whose JSON shape matches the value (if exactly one does), so that
    `RunExports | None` or `str | list[str]` are walked into like their matching member.
    """
    kind = _value_kind(value)
    if kind not in ("object", "array"):
        return None
    candidates = [m for m in _union_members(tp) if _json_kind(m) == kind]
    if len(candidates) != 1:
        return None
    (member,) = candidates
    if typing.get_origin(member) is typing.Annotated:
        return None  # constraints on the container itself: let msgspec's message speak
    if isinstance(member, type) and issubclass(member, msgspec.Struct):
        return member if isinstance(value, dict) else None
    if typing.get_origin(member) is dict and isinstance(value, dict):
        return member
    if typing.get_origin(member) is list and isinstance(value, list):
        return member
    return None


_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_PATH_TOKEN = re.compile(r"\.(?P<field>[^.\[]+)|\[(?P<index>[0-9]+|\.\.\.)\]")


def _path_tokens(message: str) -> tuple[str, list[str | int | None]]:
    """Split msgspec's "<what> - at `$.a[0][...]`" into "<what>" and ["a", 0, None].

    None stands for a dict key msgspec does not name (`[...]`).
    """
    match = _AT_PATH.search(message)
    if match is None:
        return message, []
    tokens: list[str | int | None] = []
    for token in _PATH_TOKEN.finditer(match.group("path")):
        name, index = token.group("field"), token.group("index")
        tokens.append(name if name is not None else None if index == "..." else int(index))
    return message[: match.start()], tokens


def pointer_from_error(message: str) -> tuple[str, str]:
    """A msgspec error message as (pointer suffix, message without the path).

    The pointer stops at the first dict key msgspec does not name.
    """
    what, tokens = _path_tokens(message)
    pointer = ""
    for token in tokens:
        if token is None:
            break
        pointer = join(pointer, token)
    return pointer, what[:1].lower() + what[1:]


def _from_error(error: msgspec.ValidationError, value: Any, tp: Any, pointer: str) -> Problem:
    """A Problem from msgspec's message: its path becomes pointer tokens, the value is shown."""
    message, tokens = _path_tokens(str(error))
    leaf: Any = value
    for token in tokens:
        if token is None:
            # msgspec does not say which key; the pointer stops at the dict.
            message += f" (in one of the keys of {pointer or 'the root'})"
            leaf = _MISSING
            break
        pointer = join(pointer, token)
        leaf = _step(leaf, token)
    if not tokens:
        message = _friendlier(message, tp, value)
    message = message[:1].lower() + message[1:]
    if leaf is not _MISSING and not message.startswith("missing") and "got" not in message:
        message += f", got {show(leaf)}"
    elif leaf is not _MISSING and message.endswith("`") and ", got `" in message:
        message += f" ({show(leaf)})"
    return Problem(pointer, message)


_MISSING = object()


def _step(container: Any, token: str | int) -> Any:
    try:
        return container[token]
    except (KeyError, IndexError, TypeError):
        return _MISSING


def _friendlier(message: str, tp: Any, value: Any) -> str:
    """Replace a long regex in msgspec's message with the type's own description, if it has one."""
    if "matching regex" not in message:
        return message
    for member in _union_members_annotated(tp):
        if typing.get_origin(member) is not typing.Annotated:
            continue
        for meta in typing.get_args(member)[1:]:
            description = getattr(meta, "description", None)
            if description and getattr(meta, "pattern", None) and _value_kind(value) == "string":
                if description[1:2].islower():
                    description = description[0].lower() + description[1:]
                return f"expected {description.rstrip('.')}"
    return message


def _union_members_annotated(tp: Any) -> list[Any]:
    """Union members with their Annotated wrappers kept."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _union_members_annotated(arg)]
    return [tp]


def show(value: Any, limit: int = 80) -> str:
    """A short, JSON-like rendering of a value for messages."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    try:
        text = msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
