"""Values checked against type hints, with one error line naming the source, the key and the value.

One matcher serves everything a user or a file hands us:

- JSON files: ``from_json(Spec, data, "model/config.json")`` checks that ``data`` is an object
  holding the dataclass's fields (required ones present, no unknown ones) with values of the
  declared types, and returns the dataclass (model configs, schemas, encoder state, and model
  hyper-parameters from params.yaml or ``--set``);
- settings: ``check_values(values, hints, "ingest", "params.yaml")`` checks a stage's settings
  or an evaluation's options against their fields' or parameters' hints.

So ``test_size: abc`` in params.yaml, ``--set lr_g=abc``, ``augment.train(..., steps="many")`` and
a tampered ``config.json`` all fail the same way, before anything is built from the value:
``params.yaml: ingest.test_size must be a number, got 'abc'``. The message names the innermost
wrong value (``generate.counts.yes``, ``hyperparameters.betas[1]``).

Values are converted where YAML or JSON is ambiguous: whole floats (and numpy numbers) to
``int``, numbers and numeric strings (YAML 1.1 reads ``1e-4`` as a string) to ``float``, lists to
tuples, numeric mapping keys to strings (class names). Supported hints: ``int``, ``float``,
``str``, ``bool``, ``Path``, ``Any``, ``X | None``, ``Literal[...]``, ``list[X]``,
``Sequence[X]``, ``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[K, V]``, ``Mapping[K, V]``, nested
dataclasses and other classes (by ``isinstance``); hints it does not model pass values through.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from augment.errors import AugmentError

T = TypeVar("T")
_SHOWN = 60  # characters of a bad value quoted in a message


def from_json(
    cls: type[T], data: Any, where: str, *, path: str = "", allow_extra: bool = False
) -> T:
    """``cls(**data)`` after checking every key and value against ``cls``'s annotations.

    ``where`` names the source (a file, "train settings"); ``path`` is the key path of ``data``
    inside it (for nested objects). Unknown keys are an error unless ``allow_extra``.
    Errors raised by ``cls``'s own ``__post_init__`` checks are prefixed with ``where``.
    """
    if not isinstance(data, Mapping):
        if path:
            raise AugmentError(f"{where}: {path} must be a JSON object, {_got(data)}")
        raise AugmentError(f"{where} must hold a JSON object, {_got(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown and not allow_extra:
        raise AugmentError(
            f"{where}: unknown key(s) {', '.join(_join(path, k) for k in unknown)};"
            f" known: {', '.join(fields)}"
        )
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            required = (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            )
            if required:
                raise AugmentError(f"{where}: {_join(path, name)} is missing")
            continue
        values[name] = convert(hints[name], data[name], where, _join(path, name))
    with prefixed(where):
        try:
            return cls(**values)
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise AugmentError(f"{where}: invalid {path or cls.__name__}: {exc}") from None


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
        key: convert(hints[key], value, source or "", _join(where, key))
        for key, value in values.items()
    }


def type_hints(obj: Any) -> dict[str, Any]:
    """The resolved type hints of a dataclass's fields or a function's parameters."""
    hints = typing.get_type_hints(obj)
    hints.pop("return", None)
    return hints


def convert(tp: Any, value: Any, where: str, path: str) -> Any:
    """``value`` checked against the hint ``tp`` and converted (see the module's docstring);
    an :class:`AugmentError` naming ``where`` (the source) and ``path`` (the key) if it does not
    fit."""
    if tp is Any or tp is object:
        return value
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return convert(option, value, where, path)
            except AugmentError:
                continue
        raise _type_error(where, path, tp, value)
    if origin is typing.Literal:
        # 1 == True in Python: Literal[1, 2] must not take true (nor 1.0 a Literal of ints).
        if any(value == allowed and type(value) is type(allowed) for allowed in args):
            return value
        raise _type_error(where, path, tp, value)
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        return _convert_sequence(tp, origin or tp, args, value, where, path)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return _convert_mapping(tp, args, value, where, path)
    if dataclasses.is_dataclass(tp):
        return from_json(tp, value, where, path=path)  # type: ignore[arg-type]
    checked = _convert_scalar(tp, value)
    if checked is _MISMATCH:
        raise _type_error(where, path, tp, value)
    return checked


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
        lists = "lists" if plural else "a list"
        if origin is tuple and Ellipsis not in args and items:
            return f"{lists} of {len(items)} {describe(items[0], plural=True)}"
        return lists + (f" of {describe(items[0], True)}" if items else "")
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        what = "mappings" if plural else "a mapping"
        if len(args) == 2 and args[1] is not Any:
            keys = "" if args[0] is Any else f" of {describe(args[0], True)}"
            what += f"{keys} to {describe(args[1], True)}"
        return what
    if dataclasses.is_dataclass(hint):
        return "mappings" if plural else "a mapping"
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


@contextmanager
def prefixed(where: str) -> Iterator[None]:
    """Prefix the message of an :class:`AugmentError` raised inside with ``where`` (a file),
    unless it already names it."""
    try:
        yield
    except AugmentError as exc:
        message = str(exc)
        if where and not message.startswith(where):
            exc.args = (f"{where}: {message}",)
        raise


_MISMATCH = object()


def _convert_scalar(tp: Any, value: Any) -> Any:
    """``value`` as the plain class ``tp`` wants it, or ``_MISMATCH``."""
    if tp is type(None):
        return None if value is None else _MISMATCH
    if tp is bool:
        return value if isinstance(value, bool) else _MISMATCH
    if tp is int:
        return int(value) if _is_number(value) and float(value).is_integer() else _MISMATCH
    if tp is float:
        if isinstance(value, str):
            try:
                value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
            except ValueError:
                return _MISMATCH
        return float(value) if _is_number(value) else _MISMATCH
    if tp is str:
        return value if isinstance(value, str) else _MISMATCH
    if tp is Path:
        return value if isinstance(value, str | os.PathLike) else _MISMATCH
    if isinstance(tp, type):
        try:
            return value if isinstance(value, tp) else _MISMATCH
        except TypeError:  # a Protocol that cannot be checked at run time
            return value
    return value  # a hint this module does not model (a TypeVar, a Callable): not checked


def _convert_sequence(
    tp: Any, origin: Any, args: tuple[Any, ...], value: Any, where: str, path: str
) -> Any:
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise _type_error(where, path, tp, value)
    fixed = origin is tuple and args and Ellipsis not in args
    if fixed and len(value) != len(args):
        raise _type_error(where, path, tp, value)
    hints = args if fixed else (args[0] if args else Any,) * len(value)
    items = [
        convert(hint, item, where, f"{path}[{i}]")
        for i, (hint, item) in enumerate(zip(hints, value, strict=True))
    ]
    return tuple(items) if origin is tuple else items


def _convert_mapping(tp: Any, args: tuple[Any, ...], value: Any, where: str, path: str) -> Any:
    if not isinstance(value, Mapping):
        raise _type_error(where, path, tp, value)
    key_hint, value_hint = args if len(args) == 2 else (Any, Any)
    result = {}
    for key, item in value.items():
        # Class names read from YAML come as numbers (0: 500); they are names.
        if key_hint is str and _is_number(key):
            key = str(key)
        checked_key = convert(key_hint, key, where, f"{path} key")
        result[checked_key] = convert(value_hint, item, where, _join(path, key))
    return result


def _is_number(value: Any) -> bool:
    """A finite real number, numpy's included; not a bool (Python's bool is an int)."""
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _got(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "got null"
    kind = kinds.get(type(value))
    return f"got {kind}" if kind else f"got {_show(value)}"


def _show(value: Any) -> str:
    text = repr(value)
    if "\n" in text:  # a DataFrame or array: its repr would break the one-line error
        return f"a {type(value).__name__}"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _type_error(where: str, path: str, hint: Any, value: Any) -> AugmentError:
    prefix = f"{where}: " if where else ""
    wanted = describe(hint)
    return AugmentError(f"{prefix}{path or 'the value'} must be {wanted}, got {_show(value)}")
