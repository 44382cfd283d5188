"""Settings values checked against their type hints, with one error line naming key and value.

Every setting has one definition with a type: a stage's field in :mod:`augment.settings`, a
model hyper-parameter in its config dataclass, an evaluation option in its runner's signature.
They are all checked here, so ``test_size: abc`` in params.yaml, ``--set lr_g=abc`` and
``augment.train(..., steps="many")`` fail the same way, before any work starts.
"""

from __future__ import annotations

import numbers
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from augment.errors import AugmentError

_MISMATCH = object()


def type_hints(obj: Any) -> dict[str, Any]:
    """The resolved type hints of a dataclass's fields or a function's parameters."""
    hints = typing.get_type_hints(obj)
    hints.pop("return", None)
    return hints


def check_value(name: str, value: Any, hint: Any) -> Any:
    """``value`` if it fits ``hint`` (converted where YAML is ambiguous), else an error."""
    checked = _fit(value, hint)
    if checked is _MISMATCH:
        raise AugmentError(f"{name} must be {describe(hint)}, got {value!r}")
    return checked


def check_values(
    values: Mapping[str, Any],
    hints: Mapping[str, Any],
    where: str,
    source: str | None = None,
    what: str = "setting",
) -> dict[str, Any]:
    """Every value checked against its key's hint; a key without a hint is an error naming it.

    ``where`` is the dotted path of the values (``ingest``, ``digits.train``, ``tabgan``) and
    ``source`` where they were read (``params.yaml``, ``--set``), for the error line.
    """
    lead = f"{source}: " if source else ""
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise AugmentError(
            f"{lead}unknown {where} {what}{'s' if len(unknown) > 1 else ''}"
            f" {', '.join(map(repr, unknown))}; known: {', '.join(hints)}"
        )
    return {
        key: check_value(f"{lead}{where}.{key}", value, hints[key]) for key, value in values.items()
    }


def describe(hint: Any, plural: bool = False) -> str:
    """``int | None`` -> ``a whole number or null``: what a hint asks for, in words."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if Path in args:  # a path may be given as a string: say "a path" once
            args = tuple(arg for arg in args if arg is not str)
        return " or ".join(describe(arg, plural) for arg in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(str(arg) for arg in args)
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        items = [arg for arg in args if arg is not Ellipsis]
        if origin is tuple and Ellipsis not in args and items:
            return f"a list of {len(items)} {describe(items[0], plural=True)}"
        return (
            "lists" if plural else "a list" + (f" of {describe(items[0], True)}" if items else "")
        )
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        what = "mappings" if plural else "a mapping"
        if len(args) == 2 and args[1] is not Any:
            keys = "" if args[0] is Any else f" of {describe(args[0], True)}"
            what += f"{keys} to {describe(args[1], True)}"
        return what
    words = {
        bool: ("true or false", "true or false"),
        int: ("a whole number", "whole numbers"),
        float: ("a number", "numbers"),
        str: ("a string", "strings"),
        Path: ("a path", "paths"),
        type(None): ("null", "nulls"),
    }
    if hint in words:
        return words[hint][plural]
    return getattr(hint, "__name__", str(hint))


def _fit(value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` wants it, or ``_MISMATCH``."""
    if hint is Any or hint is object:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in sorted(args, key=lambda a: a is not type(None)):  # null first: it is exact
            checked = _fit(value, arg)
            if checked is not _MISMATCH:
                return checked
        return _MISMATCH
    if origin is typing.Literal:
        return value if value in args else _MISMATCH
    if hint is type(None):
        return value if value is None else _MISMATCH
    if hint is bool:
        return value if isinstance(value, bool) else _MISMATCH
    if hint is int:
        if _is_number(value) and float(value).is_integer():
            return int(value)
        return _MISMATCH
    if hint is float:
        if _is_number(value):
            return value
        # YAML 1.1 reads 1e-4 (no dot) as a string; a number was meant.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return _MISMATCH
        return _MISMATCH
    if hint is str:
        return value if isinstance(value, str) else _MISMATCH
    if hint is Path:
        return value if isinstance(value, str | os.PathLike) else _MISMATCH
    if origin in (list, tuple, Sequence) or hint in (list, tuple):
        return _fit_sequence(value, hint, origin or hint, args)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return _fit_mapping(value, args)
    if isinstance(hint, type):
        try:
            return value if isinstance(value, hint) else _MISMATCH
        except TypeError:  # a Protocol that cannot be checked at run time
            return value
    return value  # a hint this module does not model (a TypeVar, a Callable): not checked


def _fit_sequence(value: Any, hint: Any, origin: Any, args: tuple[Any, ...]) -> Any:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        return _MISMATCH
    if origin is tuple and args and Ellipsis not in args:
        if len(value) != len(args):
            return _MISMATCH
        items = [_fit(v, a) for v, a in zip(value, args, strict=True)]
    else:
        item_hint = args[0] if args else Any
        items = [_fit(v, item_hint) for v in value]
    if any(item is _MISMATCH for item in items):
        return _MISMATCH
    return tuple(items) if origin is tuple else list(items)


def _fit_mapping(value: Any, args: tuple[Any, ...]) -> Any:
    if not isinstance(value, Mapping):
        return _MISMATCH
    key_hint, value_hint = args if len(args) == 2 else (Any, Any)
    result = {}
    for key, item in value.items():
        # Class names read from YAML come as numbers (0: 500); they are names.
        if key_hint is str and _is_number(key):
            key = str(key)
        checked_key, checked = _fit(key, key_hint), _fit(item, value_hint)
        if checked_key is _MISMATCH or checked is _MISMATCH:
            return _MISMATCH
        result[checked_key] = checked
    return result


def _is_number(value: Any) -> bool:
    # numbers.Real takes numpy's numbers too (numpy's bool is not one); Python's bool is an int.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
