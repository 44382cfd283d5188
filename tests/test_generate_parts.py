"""``augment generate`` in parts: deterministic parts, shards whose union is the whole run,
resuming after a kill to the very files of an uninterrupted run, one-line errors for --shard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.dataset as pq_dataset
import pytest
from test_image_generate import PatternSynthesizer
from typer.testing import CliRunner

from augment.cli import app
from augment.core.runtime import derive_seed
from augment.errors import AugmentError
from augment.steps import generate as generate_module
from augment.steps import shards as shards_module
from augment.steps.generate import generate
from augment.steps.shards import Shard, parse_shard, part_digits
from augment.tabular.schema import ColumnSpec, TableSchema

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SETTINGS = dict(seed=4, part_size=1000, chunk_size=300, progress=False)


class RowSynthesizer:
    """Rows of a number drawn from the chunk's seed and the asked label: fast and checkable."""

    name = "rows"

    def __init__(self) -> None:
        self.schema = TableSchema(
            label="label",
            columns=[
                ColumnSpec("x", "continuous", "float64"),
                ColumnSpec("label", "categorical", "object", categories=["a", "b", "c"]),
            ],
            classes=["a", "b", "c"],
            class_counts=[5, 3, 2],
        )

    def sample(self, labels, *, seed: int = 0) -> pd.DataFrame:
        x = np.random.default_rng(seed).normal(size=len(labels))
        return pd.DataFrame({"x": x, "label": np.asarray(labels, dtype=object)})


def _parts(out: Path) -> dict[str, pd.DataFrame]:
    """The parts of the set in ``out``, by name (in part order)."""
    folder = out / "synthetic.parquet"
    return {p.name: pd.read_parquet(p) for p in sorted(folder.glob("part-*.parquet"))}


def _assert_same_parts(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert list(a) == list(b)
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name])


def test_parts_are_fixed_size_deterministic_and_one_table(tmp_path):
    summary = generate(RowSynthesizer(), 2500, tmp_path / "a", **SETTINGS)
    again = generate(RowSynthesizer(), 2500, tmp_path / "b", **SETTINGS)
    parts = _parts(tmp_path / "a")
    assert [len(p) for p in parts.values()] == [1000, 1000, 500]
    _assert_same_parts(parts, _parts(tmp_path / "b"))
    assert summary["rows"] == 2500 and summary["parts"] == 3
    assert summary["per_class"] == again["per_class"] == {"a": 1250, "b": 750, "c": 500}
    table = pd.concat(parts.values(), ignore_index=True)
    assert table["label"].value_counts().to_dict() == {"a": 1250, "b": 750, "c": 500}
    assert table["x"].nunique() == 2500  # every chunk of every part has its own seed
    written = json.loads((tmp_path / "a" / "generation.json").read_text())
    assert {k: v for k, v in written.items() if k != "seconds"} == {
        k: v for k, v in summary.items() if k != "seconds"
    }


class ConcurrentRows(RowSynthesizer):
    """Rows as RowSynthesizer's, from a model that says its samples may be drawn in threads at
    once; records which threads drew them."""

    samples_concurrently = True

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def sample(self, labels, *, seed: int = 0) -> pd.DataFrame:
        self.threads.add(threading.get_ident())
        time.sleep(0.01)  # long enough for the other thread to take a chunk meanwhile
        return super().sample(labels, seed=seed)


def test_chunks_drawn_in_threads_at_once_make_the_same_parts(tmp_path, monkeypatch):
    assert generate_module.sampling_threads(RowSynthesizer()) == 1
    synth = ConcurrentRows()
    monkeypatch.setattr(generate_module, "sampling_threads", lambda synth: 2)
    generate(synth, 2500, tmp_path / "threads", **SETTINGS)
    assert len(synth.threads) > 1  # (a pool per part: its threads are new ones)
    generate(RowSynthesizer(), 2500, tmp_path / "one", **SETTINGS)
    _assert_same_parts(_parts(tmp_path / "threads"), _parts(tmp_path / "one"))


def test_threads_share_the_cores_keep_the_order_and_hold_few_items(monkeypatch):
    import torch

    from augment.evaluation import parallel

    monkeypatch.setattr(parallel, "free_cores", lambda: 8)
    assert generate_module.sampling_threads(ConcurrentRows()) == 4  # capped: bounded memory
    started, seen = [], []

    def work(i: int) -> int:
        seen.append(torch.get_num_threads())
        time.sleep(0.002)
        return i * i

    def items():
        for i in range(20):
            started.append(i)
            yield (i,)

    results = []
    for got in shards_module.ordered_in_threads(work, items(), threads=2):
        assert len(started) - len(results) <= 4  # at most twice the threads in flight
        results.append(got)
    assert results == [i * i for i in range(20)]
    assert set(seen) == {4}  # 8 cores, 2 threads: 4 torch threads each


def test_the_parts_folder_reads_as_one_table_in_part_order(tmp_path):
    out = tmp_path / "out"
    generate(RowSynthesizer(), 1150, out, **{**SETTINGS, "part_size": 100})
    parts = _parts(out)
    assert len(parts) == 12  # part-00010 and part-00011 sort after part-00009
    whole = pd.concat(parts.values(), ignore_index=True)
    # The folder holds only the parts: every dataset reader takes it as one table, as it took
    # the single synthetic.parquet of earlier versions.
    assert sorted(p.name for p in (out / "synthetic.parquet").iterdir()) == list(parts)
    pd.testing.assert_frame_equal(pd.read_parquet(out / "synthetic.parquet"), whole)
    table = pq_dataset.dataset(out / "synthetic.parquet", format="parquet").to_table()
    pd.testing.assert_frame_equal(table.to_pandas(), whole)
    assert len(whole) == 1150


def test_part_numbers_widen_so_that_names_keep_part_order(tmp_path, monkeypatch):
    monkeypatch.setattr(shards_module, "PART_DIGITS", 1)  # 12 parts: as 100,001 by default
    out = tmp_path / "out"
    generate(RowSynthesizer(), 1150, out, **{**SETTINGS, "part_size": 100})
    names = sorted(p.name for p in (out / "synthetic.parquet").iterdir())
    assert names == [f"part-{i:02d}.parquet" for i in range(12)]
    parts = [pd.read_parquet(out / "synthetic.parquet" / name) for name in names]
    whole = pd.read_parquet(out / "synthetic.parquet")
    pd.testing.assert_frame_equal(whole, pd.concat(parts, ignore_index=True))
    assert [len(p) for p in parts] == [100] * 11 + [50]
    assert part_digits(100_000) == 5 and part_digits(100_001) == 6


def test_a_part_being_written_is_invisible_to_readers_and_removed_by_a_rerun(tmp_path):
    out = tmp_path / "out"
    generate(RowSynthesizer(), 2500, out, **SETTINGS)
    whole = pd.read_parquet(out / "synthetic.parquet")
    # What a kill -9 mid-part leaves: the part under its temporary name, half written.
    (out / "synthetic.parquet" / "part-00002.parquet").unlink()
    (out / ".part-00002.json").unlink()
    (out / "generation.json").unlink()
    stale = out / "synthetic.parquet" / ".part-00002.parquet.abcd1234.tmp"
    stale.write_bytes(b"PAR1 half a part")
    pd.testing.assert_frame_equal(pd.read_parquet(out / "synthetic.parquet"), whole[:2000])
    assert pq_dataset.dataset(out / "synthetic.parquet").count_rows() == 2000
    generate(RowSynthesizer(), 2500, out, **SETTINGS)
    assert not stale.exists()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "synthetic.parquet"), whole)


@pytest.mark.parametrize("count", [2, 3])
def test_the_union_of_shards_is_the_whole_run(tmp_path, count):
    whole = generate(RowSynthesizer(), 3500, tmp_path / "whole", **SETTINGS)
    for index in range(count):
        shared = generate(RowSynthesizer(), 3500, tmp_path / "shared", shard=f"{index}/{count}",
                          **SETTINGS)  # fmt: skip
        own = generate(RowSynthesizer(), 3500, tmp_path / f"own{index}", shard=f"{index}/{count}",
                       **SETTINGS)  # fmt: skip
        assert own["complete"] is False and own["parts"] == list(range(index, 4, count))
        if index < count - 1:  # until the last shard has run, the shared set is incomplete
            assert shared["complete"] is False
            assert not (tmp_path / "shared" / "generation.json").exists()
    # The last shard into the shared folder found every part and completed the set.
    assert shared["per_class"] == whole["per_class"] and shared["parts"] == 4
    _assert_same_parts(_parts(tmp_path / "shared"), _parts(tmp_path / "whole"))
    union = {}
    for index in range(count):
        union.update(_parts(tmp_path / f"own{index}"))
        tag = f"shard-{index}-of-{count}"
        assert json.loads((tmp_path / "shared" / f"generation.{tag}.json").read_text())["shard"]
    _assert_same_parts(dict(sorted(union.items())), _parts(tmp_path / "whole"))


def test_torchrun_ranks_take_their_shards(tmp_path, monkeypatch):
    env = {
        "RANK": "1",
        "WORLD_SIZE": "2",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "x",
        "MASTER_PORT": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    summary = generate(RowSynthesizer(), 3500, tmp_path / "out", device="cpu", **SETTINGS)
    assert summary["shard"] == "1/2" and summary["parts"] == [1, 3]
    assert sorted(_parts(tmp_path / "out")) == ["part-00001.parquet", "part-00003.parquet"]
    with pytest.raises(AugmentError, match="under torchrun"):
        generate(RowSynthesizer(), 10, tmp_path / "x", shard="0/2", **SETTINGS)


def test_a_rerun_redoes_only_missing_parts(tmp_path):
    out = tmp_path / "out"
    generate(RowSynthesizer(), 2500, out, **SETTINGS)
    reference = _parts(out)
    kept = (out / "synthetic.parquet" / "part-00000.parquet").stat().st_mtime_ns
    (out / "synthetic.parquet" / "part-00001.parquet").unlink()
    (out / ".part-00001.json").unlink()
    (out / "generation.json").unlink()
    generate(RowSynthesizer(), 2500, out, **SETTINGS)
    _assert_same_parts(_parts(out), reference)
    assert (out / "synthetic.parquet" / "part-00000.parquet").stat().st_mtime_ns == kept
    assert (out / "generation.json").is_file()


# Generates in a child process that kills itself (SIGKILL: nothing can clean up) when the
# sampler is asked for part 2's first chunk.
KILLER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_generate_parts import RowSynthesizer, SETTINGS
from augment.core.runtime import derive_seed
from augment.steps.generate import generate

class Killed(RowSynthesizer):
    def sample(self, labels, *, seed=0):
        if seed == derive_seed(SETTINGS["seed"], "part", 2, 0):
            os.kill(os.getpid(), signal.SIGKILL)
        return super().sample(labels, seed=seed)

Killed.__qualname__ = "RowSynthesizer"  # the same model to augment (its identity in the record)
generate(Killed(), 3500, {out!r}, **SETTINGS)
"""


@pytest.mark.slow
def test_kill_9_then_the_same_command_resumes_to_an_uninterrupted_run(tmp_path):
    out = tmp_path / "out"
    script = KILLER.format(tests=str(TESTS), out=str(out))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, timeout=300, check=False)
    assert done.returncode == -9
    assert (out / ".part-00000.json").is_file() and not (out / "generation.json").exists()
    first = (out / "synthetic.parquet" / "part-00000.parquet").stat().st_mtime_ns
    summary = generate(RowSynthesizer(), 3500, out, **SETTINGS)
    assert summary["rows"] == 3500
    assert (out / "synthetic.parquet" / "part-00000.parquet").stat().st_mtime_ns == first
    generate(RowSynthesizer(), 3500, tmp_path / "whole", **SETTINGS)
    _assert_same_parts(_parts(out), _parts(tmp_path / "whole"))
    assert not [p.name for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_other_settings_replace_the_set_only_when_complete(tmp_path, monkeypatch):
    out = tmp_path / "out"
    generate(RowSynthesizer(), 1500, out, **SETTINGS)
    before = _parts(out)

    class Failing(RowSynthesizer):
        def sample(self, labels, *, seed=0):
            if seed == derive_seed(SETTINGS["seed"], "part", 1, 0):
                raise OSError(28, "No space left on device")
            return super().sample(labels, seed=seed)

    with pytest.raises(OSError):
        generate(Failing(), 2500, out, **SETTINGS)
    _assert_same_parts(_parts(out), before)  # the old set, whole
    assert (tmp_path / ".out.partial" / "synthetic.parquet" / "part-00000.parquet").is_file()
    generate(RowSynthesizer(), 2500, out, **SETTINGS)  # resumes beside it, then replaces it
    assert not (tmp_path / ".out.partial").exists()
    assert json.loads((out / "generation.json").read_text())["rows"] == 2500
    assert sorted(_parts(out)) == [f"part-0000{i}.parquet" for i in range(3)]


def test_csv_parts_and_an_empty_set(tmp_path):
    generate(RowSynthesizer(), 1200, tmp_path / "csv", format="csv", **SETTINGS)
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == [
        ".augment-output.json", ".part-00000.json", ".part-00001.json", "generation.json",
        "synthetic.csv",
    ]  # fmt: skip
    parts = sorted((tmp_path / "csv" / "synthetic.csv").iterdir())
    assert [p.name for p in parts] == ["part-00000.csv", "part-00001.csv"]
    assert [len(pd.read_csv(p)) for p in parts] == [1000, 200]
    summary = generate(RowSynthesizer(), 0, tmp_path / "empty", **SETTINGS)
    empty = pd.read_parquet(tmp_path / "empty" / "synthetic.parquet")
    assert summary["rows"] == 0 and list(empty.columns) == ["x", "label"] and len(empty) == 0


def test_image_shards_and_worker_processes_give_the_whole_set(tmp_path, monkeypatch):
    synth = PatternSynthesizer(["cat", "dog"], counts=[3, 1])
    settings = dict(seed=2, part_size=25, chunk_size=10, progress=False)
    generate(synth, 70, tmp_path / "whole", **settings)
    monkeypatch.setattr(generate_module, "PNG_WORKERS_FROM", 1)  # PNGs in worker processes
    for index in range(2):
        generate(synth, 70, tmp_path / "shards", shard=f"{index}/2", **settings)
    whole, shards = tmp_path / "whole", tmp_path / "shards"
    assert (whole / "manifest.csv").read_text() == (shards / "manifest.csv").read_text()
    files = sorted(p.relative_to(whole) for p in whole.rglob("*.png"))
    assert len(files) == 70 and files == sorted(
        p.relative_to(shards) for p in shards.rglob("*.png")
    )
    assert all((whole / f).read_bytes() == (shards / f).read_bytes() for f in files)
    assert json.loads((shards / "generation.json").read_text())["images"] == 70


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("4/4", "below N"),
        ("a/b", "must be I/N"),
        ("1/0", "at least 1"),
        ("-1/2", "must be I/N"),
        ("3", "must be I/N"),
    ],
)
def test_bad_shards_are_one_line_errors(tmp_path, monkeypatch, value, words):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["generate", "--model", "nowhere", "--shard", value])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code != 0 and len(lines) == 1, result.output
    assert lines[0].startswith("augment: error: --shard") and words in lines[0], lines[0]
    assert not (tmp_path / "synth").exists()


def test_parse_shard():
    assert parse_shard("1/3") == Shard(1, 3) and parse_shard(None) == Shard(0, 1)
    assert parse_shard(None, rank=2, world_size=4) == Shard(2, 4)
    assert [p for p in range(7) if Shard(1, 3).owns(p)] == [1, 4]
