"""Nested data as one level of dotted paths, the way `--set` names a scenario's fields and a
sweep's table names a summary's numbers: `{"a": {"b": [1, 2]}}` is `a.b[0]`, `a.b[1]`."""

from __future__ import annotations

from typing import Any


def flatten(data: dict, lists: bool = True, prefix: str = "") -> dict[str, Any]:
    """Every leaf of `data` by its path (an empty list or mapping has none). `lists`: an item of a
    list is `path[i]`; if False, lists are left out (a summary's lists, such as incidents, are
    not one number per run)."""
    leaves: dict[str, Any] = {}
    for key, value in data.items():
        _leaves(value, f"{prefix}{key}", lists, leaves)
    return leaves


def _leaves(value: Any, path: str, lists: bool, leaves: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _leaves(item, f"{path}.{key}", lists, leaves)
    elif isinstance(value, list):
        if lists:
            for i, item in enumerate(value):
                _leaves(item, f"{path}[{i}]", lists, leaves)
    else:
        leaves[path] = value
