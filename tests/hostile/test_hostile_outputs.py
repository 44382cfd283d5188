"""Where outputs go: folders that cannot hold one, a full disk, too little memory, two runs
committing to one folder, and what a killed run leaves behind."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from hostile_support import invoke, leftovers, one_line_error

from augment.core import files
from augment.core.files import MODEL, SYNTHETIC_SET, atomic_dir, remove_stale_temporaries
from augment.core.interrupts import Terminated, terminate_as_interrupt
from augment.tabular.gan import TabGAN
from augment.tabular.writer import TableWriter


def test_out_is_the_current_folder(table_model, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    for out in (".", "./", "sub/.."):
        result = invoke("generate", "--model", table_model, "--n", 5, "--out", out)
        one_line_error(result, "refusing to write a synthetic set to", "current folder")
    result = invoke("generate", "--model", table_model, "--n", 5, "--out", "..")
    one_line_error(result, "refusing to write a synthetic set to")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_out_in_an_empty_current_folder(table_model, tmp_path):
    """An empty current folder may not be replaced either: it is where the user stands."""
    empty = tmp_path / "empty"
    empty.mkdir()
    os.chdir(empty)
    one_line_error(invoke("generate", "--model", table_model, "--n", 5, "--out", "."), "current")
    assert empty.is_dir() and list(empty.iterdir()) == []


def test_out_below_a_file(table_model, tmp_path):
    (tmp_path / "file").write_text("x")
    result = invoke("generate", "--model", table_model, "--n", 5, "--out", "file/synth")
    one_line_error(result, "is a file, not a folder")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused_before_training(tmp_path, monkeypatch):
    _prepare(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        monkeypatch.setattr(TabGAN, "fit", _never_called)
        result = invoke("train", "--data", "prep", "--out", "locked/model", "--device", "cpu")
        one_line_error(result, "locked", "not writable")
    finally:
        locked.chmod(0o755)


def test_an_unwritable_folder_is_refused_before_training(tmp_path, monkeypatch):
    """As root chmod does not stop writes: the refusal is simulated where the folder is tried."""
    _prepare(tmp_path)

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path))

    monkeypatch.setattr(TabGAN, "fit", _never_called)
    monkeypatch.setattr(files.tempfile, "mkdtemp", denied)
    result = invoke("train", "--data", "prep", "--out", "model", "--device", "cpu")
    one_line_error(result, "cannot write", "model", "not writable", "Permission denied")


def _prepare(tmp_path):
    from hostile_support import tiny_table

    tiny_table().to_csv(tmp_path / "t.csv", index=False)
    assert invoke("ingest", "--source", "t.csv", "--label", "label", "--out", "prep").exit_code == 0


def _never_called(*args, **kwargs):
    raise AssertionError("training started although the output cannot be written")


def test_evaluate_and_report_replace_only_files_they_wrote(table_model, tmp_path, monkeypatch):
    """A metrics file, summary or report page replaces only a file augment wrote as such
    (marked in its content): a file of the user's, or the command's input, is refused before
    any work starts."""
    import augment.reporting.html
    import augment.steps.evaluate

    (tmp_path / "notes.md").write_text("mine")
    (tmp_path / "page.html").write_text("<p>mine</p>")
    evaluate = ("evaluate", "--data", table_model.parent / "prep", "--model", table_model,
                "--seeds", 2, "--set", "fractions=[1.0]", "--set", "classifiers=[logreg]",
                "--plots", "plots", "--device", "cpu")  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(augment.steps.evaluate, "evaluate_tabular", _never_called)
        for option, kind in (("--metrics", "metrics file"), ("--report", "evaluation summary")):
            result = invoke(*evaluate, option, "notes.md")
            one_line_error(result, "refusing to replace notes.md: augment did not write it", kind)
    for _ in range(2):  # the second run replaces the first one's files
        assert invoke(*evaluate, "--metrics", "m.json", "--report", "s.md").exit_code == 0
    report = ("report", "--data", table_model.parent / "prep", "--metrics", "m.json",
              "--summary", "s.md", "--plots", "plots")  # fmt: skip
    with monkeypatch.context() as patch:
        patch.setattr(augment.reporting.html, "render_report", _never_called)
        for out in ("page.html", "m.json", "s.md"):
            one_line_error(invoke(*report, "--out", out), f"refusing to replace {out}")
    for _ in range(2):
        assert invoke(*report, "--out", "r.html").exit_code == 0
    assert (tmp_path / "notes.md").read_text() == "mine"
    assert (tmp_path / "page.html").read_text() == "<p>mine</p>"
    assert json.loads((tmp_path / "m.json").read_text())["primary_metric"] == "macro_f1"


def test_a_full_disk_is_one_line_naming_the_output(table_model, tmp_path, monkeypatch):
    assert invoke("generate", "--model", table_model, "--n", 5, "--out", "synth").exit_code == 0
    part = tmp_path / "synth" / "synthetic.parquet" / "part-00000.parquet"
    before = part.read_bytes()

    def full(self, chunk):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(TableWriter, "write", full)
    result = invoke("generate", "--model", table_model, "--n", 7, "--out", "synth")
    one_line_error(result, "no space left on the device", "synth", code=1)
    assert part.read_bytes() == before  # old set kept
    assert leftovers(tmp_path) == []


def test_a_full_disk_names_the_file_it_was_writing_not_the_temporary(
    table_model, tmp_path, monkeypatch
):
    """The writer's error names the part file under its temporary name: the message names it
    as it would stand in the output."""

    def full(self, chunk):
        (temporary,) = tmp_path.rglob(".part-00000.parquet.*.tmp")
        raise OSError(errno.ENOSPC, "No space left on device", str(temporary))

    monkeypatch.setattr(TableWriter, "write", full)
    result = invoke("generate", "--model", table_model, "--n", 7, "--out", "synth")
    line = one_line_error(result, "no space left on the device", code=1)
    assert line.endswith(str(Path("synth", "synthetic.parquet", "part-00000.parquet"))), line
    assert ".tmp" not in line


def test_a_folder_that_refuses_a_file_names_the_file(tmp_path, monkeypatch):
    """A single-file output (the HTML report, a JSON): the temporary beside it cannot be made."""
    target = tmp_path / "reports" / "summary.html"

    def refuse(prefix, suffix, dir):
        drawn = Path(dir) / f"{prefix}abcd1234{suffix}"
        raise PermissionError(errno.EACCES, "Permission denied", str(drawn))

    monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError) as failure:
        files.write_text(target, "<html></html>")
    assert failure.value.filename == str(target)
    assert not target.exists()


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (MemoryError(), ["out of memory"]),
        (MemoryError("Unable to allocate 6.50 GiB for an array"), ["out of memory", "6.50 GiB"]),
        (
            RuntimeError(
                "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't "
                "allocate memory: you tried to allocate 4000000000000 bytes. Error code 12"
            ),
            ["out of memory: could not allocate 3.6 TiB"],
        ),
        (
            type("OutOfMemoryError", (RuntimeError,), {})("CUDA out of memory. Tried 20 GiB\nx"),
            ["out of GPU memory", "Tried 20 GiB"],
        ),
        (PermissionError(errno.EACCES, "Permission denied", "/data/x"), ["permission", "/data/x"]),
        (OSError(errno.EROFS, "Read-only file system", "/mnt/ro"), ["read-only", "/mnt/ro"]),
    ],
)
def test_system_failures_are_one_line(failure, words, table_model, monkeypatch):
    def fail(self, labels, *, seed=0):
        raise failure

    monkeypatch.setattr(TabGAN, "sample", fail)
    result = invoke("generate", "--model", table_model, "--n", 5, "--out", "synth")
    one_line_error(result, *words, code=1)


def test_a_bug_is_one_line_too_with_the_traceback_under_verbose(table_model, monkeypatch):
    def broken(self, labels, *, seed=0):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(TabGAN, "sample", broken)
    result = invoke("generate", "--model", table_model, "--n", 5, "--out", "synth")
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert [line for line in lines if line.startswith("augment: ")] == lines[-1:]
    assert "unexpected ZeroDivisionError: division by zero" in lines[-1]
    assert "--verbose" in lines[-1] and "Traceback" not in result.output
    verbose = invoke("--verbose", "generate", "--model", table_model, "--n", 5, "--out", "synth")
    assert "Traceback" in verbose.output and "ZeroDivisionError" in verbose.output


def test_two_commits_to_one_folder_take_turns(tmp_path):
    """A commit waits while another holds the folder, then replaces it whole: no "Directory
    not empty", no mixture of the two."""
    target = tmp_path / "model"
    with atomic_dir(target, MODEL) as tmp:
        (tmp / "weights").write_text("first")
    done = threading.Event()

    def second() -> None:
        with atomic_dir(target, MODEL) as build:
            (build / "weights").write_text("second")
        done.set()

    with files._locked(tmp_path):  # another run is mid-commit
        worker = threading.Thread(target=second)
        worker.start()
        time.sleep(0.5)
        assert not done.is_set()
        assert (target / "weights").read_text() == "first"
    worker.join(10)
    assert done.is_set()
    assert (target / "weights").read_text() == "second"
    assert leftovers(tmp_path) == []


def test_many_runs_committing_at_once(tmp_path):
    """Runs that check the folder while another swaps its own in (the folder is briefly gone
    between the two renames) must not mistake that moment for a user's file. With a single look
    this failed in CI under load; a stress of 8 threads x 20 commits x 5 rounds gave 3 false
    refusals with it and none with the repeated look."""
    target = tmp_path / "synth"
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            for _ in range(15):
                with atomic_dir(target, SYNTHETIC_SET) as tmp:
                    for part in range(3):
                        (tmp / f"part{part}").write_text(str(index))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    written = {(target / f"part{p}").read_text() for p in range(3)}
    assert len(written) == 1  # one run's folder, whole
    assert leftovers(tmp_path) == []


def test_stale_temporaries_are_removed_by_the_next_run(table_model, tmp_path):
    stale_dir = tmp_path / ".synth.abcd1234.tmp"
    stale_dir.mkdir()
    (stale_dir / "synthetic.parquet").write_bytes(b"half")
    (tmp_path / ".synth.zz_9yy8x.old").mkdir()
    (tmp_path / ".synth.q1w2e3r4.tmp").write_bytes(b"half")
    users = [".synth.notours.tmp", ".synth.old", ".synth.ABCD1234.tmp", ".other.abcd1234.tmp"]
    for name in users:
        (tmp_path / name).write_text("a user's file")
    in_use = tmp_path / ".synth.inuse123.tmp"
    in_use.mkdir()
    held = os.open(in_use, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)  # a live run building it
    try:
        result = invoke("generate", "--model", table_model, "--n", 5, "--out", "synth")
        assert result.exit_code == 0, result.output
    finally:
        os.close(held)
    assert leftovers(tmp_path) == sorted([*users, ".synth.inuse123.tmp"])
    assert all((tmp_path / name).read_text() == "a user's file" for name in users)
    assert json.loads((tmp_path / "synth" / "generation.json").read_text())["rows"] == 5


def test_stale_temporaries_of_a_file_output(tmp_path):
    from augment.core.files import write_text

    (tmp_path / ".report.html.k2j3h4g5.tmp").write_text("half")
    write_text(tmp_path / "report.html", "whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]
    assert remove_stale_temporaries(tmp_path, "report.html") == []


def test_a_signal_during_the_swap_waits_until_it_is_done(tmp_path, monkeypatch):
    """SIGTERM between moving the old output aside and the new one in would leave neither."""
    target = tmp_path / "model"
    with atomic_dir(target, MODEL) as tmp:
        (tmp / "weights").write_text("old")
    real = os.replace

    def replace(src, dst):
        if str(dst).endswith(".old"):  # the old output moves aside: a SIGTERM arrives now
            os.kill(os.getpid(), signal.SIGTERM)
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(Terminated), terminate_as_interrupt(), atomic_dir(target, MODEL) as tmp:
        (tmp / "weights").write_text("new")
    assert (target / "weights").read_text() == "new"
    assert leftovers(tmp_path) == []


def test_a_failed_swap_puts_the_old_output_back(tmp_path, monkeypatch):
    target = tmp_path / "model"
    with atomic_dir(target, MODEL) as tmp:
        (tmp / "weights").write_text("old")
    real = os.replace

    def replace(src, dst):
        if Path(dst) == target and Path(src).name.endswith(".tmp"):
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(files.os, "replace", replace)
    with pytest.raises(OSError), atomic_dir(target, MODEL) as tmp:
        (tmp / "weights").write_text("new")
    assert (target / "weights").read_text() == "old"
    assert leftovers(tmp_path) == []
