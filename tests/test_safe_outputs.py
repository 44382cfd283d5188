"""Never lose a user's data: each command replaces only a folder that augment itself wrote for
the same purpose, never writes into or over its input, and leaves nothing half-written."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from augment.cli import app
from augment.core.files import MODEL, OWNER_MARKER, atomic_dir, check_output_dir
from augment.errors import AugmentError

runner = CliRunner()
TINY_TRAIN = ["--epochs", "1", "--batch-size", "100", "--set", "min_steps=0", "--device", "cpu"]


def invoke(*args: str):
    return runner.invoke(app, list(args))


def refused(result, *words: str) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0, result.output
    assert len(lines) == 1 and lines[0].startswith("augment: error: "), result.output
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def tree(folder) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.fixture
def prepared(tmp_path, monkeypatch, small_csv):
    monkeypatch.chdir(tmp_path)
    assert (
        invoke("ingest", "--source", small_csv, "--label", "label", "--out", "prep").exit_code == 0
    )
    return tmp_path / "prep"


def test_ingest_refuses_the_folder_that_holds_its_source(tmp_path, small_table):
    folder = tmp_path / "d"
    folder.mkdir()
    small_table.to_csv(folder / "good.csv", index=False)
    before = tree(folder)
    result = invoke("ingest", "--source", str(folder / "good.csv"), "--label", "label",
                    "--out", str(folder))  # fmt: skip
    refused(result, str(folder), "input")
    assert tree(folder) == before


def test_ingest_refuses_a_file_and_a_folder_it_did_not_write(tmp_path, small_csv):
    user_file = tmp_path / "notes.txt"
    user_file.write_text("mine")
    refused(invoke("ingest", "--source", small_csv, "--label", "label", "--out", str(user_file)),
            str(user_file))  # fmt: skip
    assert user_file.read_text() == "mine"
    user_folder = tmp_path / "photos"
    user_folder.mkdir()
    (user_folder / "a.txt").write_text("keep")
    refused(invoke("ingest", "--source", small_csv, "--label", "label", "--out", str(user_folder)),
            str(user_folder), "did not write")  # fmt: skip
    assert (user_folder / "a.txt").read_text() == "keep"


def test_ingest_replaces_its_own_output_and_an_empty_folder(prepared, small_csv):
    first = (prepared / "schema.json").read_text()
    assert (
        invoke("ingest", "--source", small_csv, "--label", "label", "--out", "prep").exit_code == 0
    )
    assert (prepared / "schema.json").read_text() == first
    assert json.loads((prepared / OWNER_MARKER).read_text())["kind"] == "prepared data"
    empty = prepared.parent / "empty"
    empty.mkdir()
    assert (
        invoke("ingest", "--source", small_csv, "--label", "label", "--out", "empty").exit_code == 0
    )


def test_train_refuses_its_input_and_user_folders_before_training(prepared):
    before = tree(prepared)
    refused(invoke("train", "--data", "prep", "--out", "prep", *TINY_TRAIN), "prep", "input")
    refused(invoke("train", "--data", "prep", "--out", "prep/model", *TINY_TRAIN), "inside")
    assert tree(prepared) == before
    mine = prepared.parent / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("years of work")
    refused(invoke("train", "--data", "prep", "--out", "mine", *TINY_TRAIN), "did not write")
    assert (mine / "thesis.tex").read_text() == "years of work"


def test_a_prepared_folder_is_never_replaced_by_a_model(prepared, small_csv):
    other = prepared.parent / "other"
    assert (
        invoke("ingest", "--source", small_csv, "--label", "label", "--out", "other").exit_code == 0
    )
    refused(invoke("train", "--data", "prep", "--out", "other", *TINY_TRAIN),
            "prepared data", "not a model")  # fmt: skip
    assert (other / "train.parquet").is_file()


def test_generate_guard_cannot_be_bypassed_with_a_dropped_summary(prepared):
    assert invoke("train", "--data", "prep", "--out", "model", *TINY_TRAIN).exit_code == 0
    user = prepared.parent / "user"
    user.mkdir()
    (user / "holiday.png").write_bytes(b"\x89PNG not really")
    # A table generate used to drop generation.json into any folder, which then passed the
    # image generate's check. Now neither writes into a folder it does not own.
    refused(invoke("generate", "--model", "model", "--n", "10", "--out", "user"), "did not write")
    (user / "generation.json").write_text("{}")
    refused(invoke("generate", "--model", "model", "--n", "10", "--out", "user"), "did not write")
    assert (user / "holiday.png").read_bytes() == b"\x89PNG not really"
    assert invoke("generate", "--model", "model", "--n", "10", "--out", "synth").exit_code == 0
    assert invoke("generate", "--model", "model", "--n", "12", "--out", "synth").exit_code == 0
    assert json.loads((prepared.parent / "synth" / "generation.json").read_text())["rows"] == 12


def test_a_folder_named_like_the_old_copy_survives_a_replacement(tmp_path):
    target = tmp_path / "model"
    user_old = tmp_path / ".model.old"
    user_old.mkdir()
    (user_old / "keep.txt").write_text("mine")
    for version in ("1", "2"):
        with atomic_dir(target, MODEL) as tmp:
            (tmp / "weights").write_text(version)
    assert (target / "weights").read_text() == "2"
    assert (user_old / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".model.old", "model"]


def test_a_failed_build_leaves_the_old_output_and_no_temporary_folder(tmp_path):
    target = tmp_path / "model"
    with atomic_dir(target, MODEL) as tmp:
        (tmp / "weights").write_text("good")
    with pytest.raises(RuntimeError), atomic_dir(target, MODEL) as tmp:
        (tmp / "weights").write_text("half")
        raise RuntimeError("killed")
    assert (target / "weights").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_marker_of_the_wrong_shape_does_not_grant_ownership(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n")
    for fake in ("[]", "not json", '{"kind": 3}'):
        (folder / OWNER_MARKER).write_text(fake)
        with pytest.raises(AugmentError, match="did not write"):
            check_output_dir(folder, MODEL)
