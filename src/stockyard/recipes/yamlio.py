"""YAML writing in the layout recipe maintainers expect (lists indented under their key)."""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped]


class _IndentedDumper(yaml.SafeDumper):  # type: ignore[misc]  # yaml ships no types
    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_IndentedDumper.add_representer(str, _str_presenter)


def dump(document: Any) -> str:
    text: str = yaml.dump(
        document, Dumper=_IndentedDumper, sort_keys=False, allow_unicode=True, width=100
    )
    return text


def comment_block(lines: list[str]) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)
