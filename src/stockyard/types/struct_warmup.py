"""Build msgspec's type information for every Struct once, before threads use them.

msgspec builds a Struct class's decoding information the first time the class is decoded or
converted, and keeps it on the class. Two threads doing that first conversion at the same time
can crash the process: one reads the information while the other is still filling it in (a
segmentation fault in msgspec's `convert`, seen on a replica whose first requests were
concurrent uploads; the script in tests/types/test_struct_warmup.py crashed about once in a
hundred fresh interpreters without this, never with it). `create_app` calls
`warm_struct_types()` once, before the server has more than one thread. Modules the server
imports later, on first use, build their decoders at import time instead (`_decode_x =
msgspec.json.Decoder(X).decode`): an import runs under the module's import lock, so no other
thread can reach the class before its information is complete.
"""

from __future__ import annotations

import msgspec


def _struct_classes() -> list[type[msgspec.Struct]]:
    """Every subclass of `msgspec.Struct` defined so far (imported modules only)."""
    found: list[type[msgspec.Struct]] = []
    pending = list(msgspec.Struct.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def warm_struct_types() -> list[type[msgspec.Struct]]:
    """Build the decoding information of every Struct class of `stockyard` imported so far;
    returns the classes prepared. A class msgspec cannot build information for (a generic
    Struct, an unresolvable annotation) is skipped: nothing can decode into it either."""
    prepared = []
    for cls in _struct_classes():
        if not cls.__module__.startswith("stockyard."):
            continue
        try:
            msgspec.json.Decoder(cls)  # fills the class's cached information
        except (TypeError, NameError, ValueError):
            continue
        prepared.append(cls)
    return prepared
