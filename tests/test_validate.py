"""The one matcher of values against type hints (augment.core.validate): what it converts, what
it refuses, and that the error line names the source, the innermost key and the value."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pytest

from augment.core.validate import check_values, convert, describe, from_json
from augment.errors import AugmentError


@dataclass
class Inner:
    size: int
    name: str = "x"


@dataclass
class Outer:
    inner: Inner
    ratios: tuple[float, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)


@pytest.mark.parametrize(
    ("hint", "value", "expected"),
    [
        (int, 3.0, 3),
        (int, np.int64(4), 4),
        (float, 1, 1.0),
        (float, "1e-4", 1e-4),  # YAML 1.1 reads 1e-4 as a string
        (float, np.float32(0.5), 0.5),
        (tuple[float, ...], [1, 2], (1.0, 2.0)),
        (list[int] | None, None, None),
        (dict[str, int], {0: 500, "b": 2.0}, {"0": 500, "b": 2}),  # class names read as numbers
        (Literal["a", "b"], "b", "b"),
        (Path | None, "data/x", "data/x"),
    ],
)
def test_values_are_converted_where_yaml_and_json_are_ambiguous(hint, value, expected):
    got = convert(hint, value, "params.yaml", "key")
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize(
    ("hint", "value", "message"),
    [
        (int, 1.5, "params.yaml: key must be a whole number, got 1.5"),
        (int, True, "params.yaml: key must be a whole number, got True"),
        (float, float("inf"), "params.yaml: key must be a number, got inf"),
        (float, "fast", "params.yaml: key must be a number, got 'fast'"),
        (bool, "yes", "params.yaml: key must be true or false, got 'yes'"),
        (Literal[1, 2], True, "params.yaml: key must be one of 1, 2, got True"),
        (list[float], [1, "x"], "params.yaml: key[1] must be a number, got 'x'"),
        (list[float], "1,2", "params.yaml: key must be a list of numbers, got '1,2'"),
        (tuple[float, float], [0.5], "params.yaml: key must be a list of 2 numbers, got [0.5]"),
        (dict[str, int], {"y": "many"}, "params.yaml: key.y must be a whole number, got 'many'"),
        (int | None, "lots", "params.yaml: key must be a whole number or null, got 'lots'"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_innermost_key(hint, value, message):
    with pytest.raises(AugmentError) as error:
        convert(hint, value, "params.yaml", "key")
    assert str(error.value) == message


def test_json_objects_become_nested_dataclasses_with_errors_naming_the_path():
    data = {"inner": {"size": 2.0}, "ratios": [1, 2], "counts": {"a": 3}}
    assert from_json(Outer, data, "model/config.json") == Outer(Inner(2), (1.0, 2.0), {"a": 3})
    with pytest.raises(AugmentError, match=r"^model/config.json: inner.size must be a whole"):
        from_json(Outer, {"inner": {"size": "ten"}}, "model/config.json")
    with pytest.raises(AugmentError, match=r"^model/config.json: inner.size is missing$"):
        from_json(Outer, {"inner": {}}, "model/config.json")
    with pytest.raises(AugmentError, match=r"unknown key\(s\) inner.colour; known: size, name"):
        from_json(Outer, {"inner": {"size": 1, "colour": "red"}}, "model/config.json")
    with pytest.raises(AugmentError, match=r"^model/config.json must hold a JSON object, got a"):
        from_json(Outer, [1], "model/config.json")


def test_settings_name_their_source_and_section():
    hints = {"seed": int, "ratios": list[float]}
    assert check_values({"seed": 1.0}, hints, "evaluate", "--set") == {"seed": 1}
    with pytest.raises(AugmentError, match=r"^--set: evaluate.ratios\[0\] must be a number"):
        check_values({"ratios": ["x"]}, hints, "evaluate", "--set")
    with pytest.raises(AugmentError, match=r"^params.yaml: unknown evaluate setting 'sede'"):
        check_values({"sede": 1}, hints, "evaluate", "params.yaml")


def test_hints_in_words():
    assert describe(dict[str, int]) == "a mapping of strings to whole numbers"
    assert describe(Path | str | None) == "a path or null"
    assert describe(list[tuple[int, int]]) == "a list of lists of 2 whole numbers"
