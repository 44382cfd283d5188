"""Tampered, truncated or mismatched model folders: every file is checked where it is read
(keys, types, sizes against the weights' header) before anything is allocated, and each defect
is one line naming the file. Nothing is generated from a model whose files disagree."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch
from hostile_support import invoke, leftovers, one_line_error
from safetensors.torch import load_file, save_file

Edit = Callable[[Any], Any]


def _set(path: str, value: Any) -> Edit:
    """An edit that sets a dotted key (``hyperparameters.pac``) of a JSON object."""

    def edit(data: Any) -> Any:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
        return data

    return edit


def _drop(path: str) -> Edit:
    def edit(data: Any) -> Any:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[last]
        return data

    return edit


def _drop_schema_column(name: str) -> Edit:
    def edit(data: Any) -> Any:
        data["schema"]["columns"] = [c for c in data["schema"]["columns"] if c["name"] != name]
        return data

    return edit


def _categories(column: str, values: list[Any], *where: str) -> Edit:
    """Set a categorical column's categories in the schema (and/or the encoder's columns) of a
    model file: ``where`` names the lists of columns to edit, e.g. ``schema.columns``."""

    def edit(data: Any) -> Any:
        for path in where:
            node = data
            for key in path.split("."):
                node = node[key]
            for col in node:
                if col["name"] == column:
                    col["categories"] = values
        return data

    return edit


def edit_json(path: Path, edit: Edit) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(edit(data)))


def generate_fails(model: Path, tmp_path: Path, *words: str) -> str:
    out = tmp_path / "synth"
    started = time.perf_counter()
    result = invoke("generate", "--model", model, "--n", 5, "--out", out, "--device", "cpu")
    line = one_line_error(result, *words)
    assert time.perf_counter() - started < 30  # refused up front, nothing huge allocated
    assert not out.exists() and leftovers(tmp_path) == []
    return line


# (edit of config.json, words the one-line error must hold)
TABLE_CONFIGS = {
    "a JSON list": (lambda data: [], ["config.json must hold a JSON object"]),
    "null": (lambda data: None, ["config.json must hold a JSON object"]),
    "no schema": (_drop("schema"), ["config.json", "schema is missing"]),
    "schema without columns": (_drop("schema.columns"), ["config.json", "columns is missing"]),
    "columns not a list": (_set("schema.columns", "x"), ["columns must be a list"]),
    "column of the wrong kind": (_set("schema.columns", [{"name": "x", "kind": "text"}]),
                                 ["config.json", "columns[0].kind"]),
    "pac of 0": (_set("hyperparameters.pac", 0), ["config.json", "pac must be at least 1"]),
    "pac a string": (_set("hyperparameters.pac", "ten"), ["hyperparameters: pac", "'ten'"]),
    "unknown hyper-parameter": (_set("hyperparameters.pack", 10), ["config.json", "pack"]),
    "hyper-parameters a list": (_set("hyperparameters", [1]), ["hyperparameters must be"]),
    "noise_dim of 10**9": (_set("hyperparameters.noise_dim", 10**9),
                           ["weights.safetensors", "do not fit config.json"]),
    "layers wider than saved": (_set("hyperparameters.generator_dims", [64, 64]),
                                ["weights.safetensors", "do not fit config.json"]),
    "schema lacks a column the encoder has": (_drop_schema_column("colour"),
                                              ["config.json", "lacks column 'colour'",
                                               "encoder.json"]),
    "label not a column": (_set("schema.label", "nope"), ["config.json", "'nope'"]),
    "not a model of augment": (_set("model", "gpt"), ["config.json", "unknown model 'gpt'"]),
    "a null category": (_categories("colour", ["red", None], "schema.columns"),
                        ["config.json", "'colour' lists None"]),
    "a category twice": (_categories("colour", ["red", "red"], "schema.columns"),
                         ["config.json", "'colour' lists a category twice"]),
    "a list as category": (_categories("colour", [["red"]], "schema.columns"),
                           ["config.json", "'colour' lists ['red']"]),
}  # fmt: skip


@pytest.mark.parametrize("case", TABLE_CONFIGS)
def test_tampered_table_config(case, table_model, copy_model, tmp_path):
    edit, words = TABLE_CONFIGS[case]
    model = copy_model(table_model)
    edit_json(model / "config.json", edit)
    generate_fails(model, tmp_path, *words)


TABLE_ENCODERS = {
    "a JSON list": (lambda data: [], ["encoder.json must hold a JSON object"]),
    "columns a string": (_set("columns", "x"), ["encoder.json", "columns must be a list"]),
    "unknown version": (_set("version", 99), ["encoder.json", "version 99"]),
    "a negative std": (lambda d: _set("columns", [
        {**c, "stds": [-1.0] * len(c["stds"])} if c["kind"] == "continuous" else c
        for c in d["columns"]])(d), ["encoder.json", "positive"]),
    "means of text": (lambda d: _set("columns", [
        {**c, "means": ["a"]} if c["kind"] == "continuous" else c
        for c in d["columns"]])(d), ["encoder.json", "means[0]", "'a'"]),
    "a column missing": (lambda d: _set("columns", d["columns"][1:])(d),
                         ["encoder.json", "not encoded"]),
    "other categories than its schema": (_categories("colour", ["red", "blue"], "columns"),
                                         ["encoder.json", "'colour'", "other categories"]),
    "a NaN category, both lists": (_categories("colour", ["red", float("nan")], "columns",
                                               "schema.columns"),
                                   ["encoder.json", "'colour' lists nan"]),
}  # fmt: skip


@pytest.mark.parametrize("case", TABLE_ENCODERS)
def test_tampered_encoder(case, table_model, copy_model, tmp_path):
    edit, words = TABLE_ENCODERS[case]
    model = copy_model(table_model)
    edit_json(model / "encoder.json", edit)
    generate_fails(model, tmp_path, *words)


def test_categories_of_mixed_kinds_need_csv(table_model, copy_model, tmp_path):
    # Consistent in every file, as a model fitted on Python objects through the API would be:
    # Parquet cannot hold the column, so generate says so before writing anything; CSV can.
    model = copy_model(table_model)
    values = [1, "green", "red"]
    edit_json(model / "config.json", _categories("colour", values, "schema.columns"))
    edit_json(model / "encoder.json", _categories("colour", values, "columns", "schema.columns"))
    generate_fails(model, tmp_path, "'colour' mixes categories", "--format csv")
    out = tmp_path / "csv"
    result = invoke("generate", "--model", model, "--n", 50, "--out", out, "--format", "csv")
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out / "synthetic.csv" / "part-00000.csv")["colour"].dropna()
    assert set(written.astype(str)) <= {"1", "green", "red"}


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _not_safetensors(path: Path) -> None:
    path.write_bytes(b"\x80\x04\x95 a pickle, say, or any other file" * 10)


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _nan(path: Path) -> None:
    tensors = load_file(path)
    key = next(k for k, v in tensors.items() if v.is_floating_point() and v.numel() > 1)
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    save_file(tensors, path)


def _renamed(path: Path) -> None:
    tensors = load_file(path)
    save_file({k.replace("generator.", "gen."): v for k, v in tensors.items()}, path)


def _missing_file(path: Path) -> None:
    path.unlink()


WEIGHTS = {
    "truncated": (_truncate, ["weights.safetensors", "not a complete safetensors file"]),
    "not safetensors": (_not_safetensors, ["weights.safetensors", "cannot read"]),
    "empty": (_empty, ["weights.safetensors", "cannot read"]),
    "NaN weights": (_nan, ["weights.safetensors", "NaN"]),
    "other tensor names": (_renamed, ["weights.safetensors", "lack", "tensor"]),
    "missing": (_missing_file, ["weights.safetensors", "not found"]),
}


@pytest.mark.parametrize("case", WEIGHTS)
@pytest.mark.parametrize("which", ["table", "image"])
def test_damaged_weights(case, which, table_model, image_model, copy_model, tmp_path):
    damage, words = WEIGHTS[case]
    model = copy_model(table_model if which == "table" else image_model)
    damage(model / "weights.safetensors")
    generate_fails(model, tmp_path, *words)


def _calibration_out_of_order(path: Path) -> None:
    tensors = load_file(path)
    tensors["calibration.real"] = tensors["calibration.real"].flip(-1)
    save_file(tensors, path)


def _calibration_dropped(path: Path) -> None:
    tensors = load_file(path)
    save_file({k: v for k, v in tensors.items() if not k.startswith("calibration.")}, path)


def _tilt_too_large(path: Path) -> None:
    tensors = load_file(path)
    tensors["tilt.offsets"] = tensors["tilt.offsets"] + 1e6
    save_file(tensors, path)


def _tilt_dropped(path: Path) -> None:
    tensors = load_file(path)
    save_file({k: v for k, v in tensors.items() if not k.startswith("tilt.")}, path)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (_calibration_out_of_order, ["weights.safetensors", "calibration.real", "out of order"]),
        (_calibration_dropped, ["weights.safetensors", "lack", "calibration.real"]),
        (_tilt_too_large, ["weights.safetensors", "tilt.offsets", "not a number within"]),
        (_tilt_dropped, ["weights.safetensors", "lack", "tilt.offsets"]),
    ],
)
def test_damaged_corrections(damage, words, table_model, copy_model, tmp_path):
    model = copy_model(table_model)
    damage(model / "weights.safetensors")
    generate_fails(model, tmp_path, *words)


def _one_class_more(data: Any) -> Any:
    data["schema"]["classes"].append("x")
    data["schema"]["class_counts"].append(1)
    return data


IMAGE_CONFIGS = {
    "a JSON list": (lambda data: [], ["config.json must hold a JSON object"]),
    "z_dim of 10**9": (_set("hyperparameters.z_dim", 10**9),
                       ["weights.safetensors", "do not fit config.json", "1000000000"]),
    "channels of 10**6": (_set("hyperparameters.channels", 10**6),
                          ["weights.safetensors", "do not fit config.json"]),
    "z_dim of 0": (_set("hyperparameters.z_dim", 0), ["config.json", "z_dim"]),
    "size of 1000": (_set("schema.size", 1000), ["config.json", "8 to 64"]),
    "one class": (_set("schema.classes", ["0"]), ["config.json", "at least 2 classes"]),
    "one class more": (_one_class_more, ["do not fit config.json"]),
    "classes of numbers": (_set("schema.classes", list(range(10))), ["classes[0]"]),
    "a table schema": (_set("schema.modality", "tabular"), ["config.json", "not an image"]),
}  # fmt: skip


@pytest.mark.parametrize("case", IMAGE_CONFIGS)
def test_tampered_image_config(case, image_model, copy_model, tmp_path):
    edit, words = IMAGE_CONFIGS[case]
    model = copy_model(image_model)
    edit_json(model / "config.json", edit)
    generate_fails(model, tmp_path, *words)


@pytest.mark.parametrize("which", ["config.json", "encoder.json"])
def test_json_nested_100000_deep(which, table_model, copy_model, tmp_path):
    model = copy_model(table_model)
    (model / which).write_text("[" * 100_000 + "]" * 100_000)
    generate_fails(model, tmp_path, which, "nested too deeply")


@pytest.mark.parametrize("content", ["[]", "null", '{"model": 3}', "{not json"])
def test_info_on_a_tampered_config(content, table_model, copy_model):
    model = copy_model(table_model)
    (model / "config.json").write_text(content)
    one_line_error(invoke("info", model), "config.json")


def test_an_untouched_copy_still_generates(table_model, image_model, copy_model, tmp_path):
    """The corpus's baseline: the copies themselves are fine, so the errors above are the
    tampering's."""
    for model in (copy_model(table_model), copy_model(image_model)):
        out = tmp_path / f"out_{model.name}"
        result = invoke("generate", "--model", model, "--n", 6, "--out", out, "--device", "cpu")
        assert result.exit_code == 0, result.output
        assert json.loads((out / "generation.json").read_text()).get("rows", 6) == 6
