"""Typed reading of what a user or a file hands us: one dataclass per format, checked on entry.

``from_json(Spec, data, "model/config.json")`` checks that ``data`` is a JSON object holding the
dataclass's fields (required ones present, no unknown ones) with values of the declared types,
and returns the dataclass. A mismatch is one :class:`AugmentError` that names where the data came
from and the key, e.g. ``model/config.json: hyperparameters.pac must be a whole number, got
'ten'``, raised before anything is built from the data. Supported annotations: ``int``,
``float``, ``str``, ``bool``, ``Any``, ``X | None``, ``Literal[...]``, ``list[X]``,
``tuple[X, ...]``, ``tuple[X, Y]``, ``dict[str, X]`` and nested dataclasses.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterator
from contextlib import contextmanager
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
    if not isinstance(data, dict):
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


def convert(tp: Any, value: Any, where: str, path: str) -> Any:
    """``value`` checked against the annotation ``tp`` (and converted: lists to tuples, whole
    floats to ints, numeric strings to floats for ``float``)."""
    if tp is Any or tp is object:
        return value
    if tp is type(None):
        if value is None:
            return None
        raise _type_error(where, path, "null", value)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        for option in options:
            try:
                return convert(option, value, where, path)
            except AugmentError:
                continue
        wanted = " or ".join(_describe(a) for a in args)
        raise _type_error(where, path, wanted, value)
    if origin is typing.Literal:
        for allowed in args:
            if value == allowed and type(value) is type(allowed):
                return value
        raise _type_error(where, path, "one of " + ", ".join(repr(a) for a in args), value)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _type_error(where, path, "true or false", value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        raise _type_error(where, path, "a whole number", value)
    if tp is float:
        number = _number(value)
        if number is None:
            raise _type_error(where, path, "a finite number", value)
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        raise _type_error(where, path, "a string", value)
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _type_error(where, path, "a list", value)
        if origin is tuple and args and args[-1] is not Ellipsis and len(args) != len(value):
            raise _type_error(where, path, f"a list of {len(args)} items", value)
        if not args:
            items = list(value)
        elif origin is tuple and args[-1] is not Ellipsis:
            items = [
                convert(a, v, where, f"{path}[{i}]")
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            ]
        else:
            items = [convert(args[0], v, where, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise _type_error(where, path, "a JSON object", value)
        if not args:
            return dict(value)
        return {
            convert(args[0], k, where, f"{path} key"): convert(args[1], v, where, _join(path, k))
            for k, v in value.items()
        }
    if dataclasses.is_dataclass(tp):
        return from_json(tp, value, where, path=path)  # type: ignore[arg-type]
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        raise _type_error(where, path, _describe(tp), value)
    raise TypeError(f"from_json cannot check the annotation {tp!r}")  # a bug, not user input


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


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        # YAML 1.1 reads 1e-4 (no dot) as a string: accept the number it spells.
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _describe(tp: Any) -> str:
    names = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}
    if tp in names:
        return names[tp]
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a JSON object"
    return getattr(tp, "__name__", str(tp))


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
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _type_error(where: str, path: str, wanted: str, value: Any) -> AugmentError:
    prefix = f"{where}: " if where else ""
    return AugmentError(f"{prefix}{path or 'the value'} must be {wanted}, got {_show(value)}")
