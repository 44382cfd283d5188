"""``augment generate``: stream a labelled synthetic set from a trained model to disk, in parts.

The set is cut into parts of ``part_size`` samples (default 1,000,000 rows / 10,000 images):
tables go to ``synthetic.parquet/part-00000.parquet``, ``part-00001...`` (or ``synthetic.csv/``):
a folder holding only the parts, the dataset layout of Spark and Dask, so that
``pd.read_parquet("out/synthetic.parquet")``, pyarrow, polars or duckdb read it as one table,
as they read a single file; images to PNGs in one folder per class with ``manifest.csv`` and
``classes.json`` (:mod:`augment.images.writer`).
Part ``p``'s class counts come from the plan (:func:`augment.core.labels.part_counts`) and its
samples from ``derive_seed(seed, "part", p, chunk)``, so a part is the same whichever process
writes it and whatever ran before: an interrupted run resumes (the parts already complete are
kept), ``shard="I/N"`` writes the parts ``p % N == I`` (:mod:`augment.steps.shards`), and the
union of N shards is one run of the whole. Each part is written under a temporary name
(``.part-00000.parquet.xxxxxxxx.tmp``: dataset readers skip names starting with ``.`` or ``_``),
renamed when complete, and then recorded (``out/.part-00000.json``, beside the parts' folder);
``generation.json``, written once every part is there, marks the set complete.

The output folder's owner marker records the settings. A rerun with the same settings resumes
in it (or, when complete, only checks it); other settings build the new set beside it
(``.NAME.partial``), which replaces the old one only when complete.

With ``curate``, each chunk keeps only the samples a classifier trained on the real training
split (of the prepared data ``data``) assigns to their conditioned class with probability at
least ``curate_threshold`` (:mod:`augment.evaluation.curation`), drawing more until the chunk's
counts are met or the draw cap is hit; ``generation.json`` says per class what was asked, drawn
and kept.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from augment.core import distributed
from augment.core.files import (
    SYNTHETIC_SET,
    atomic_path,
    check_output_dir,
    publish_resumable,
    read_json,
    remove_stale_temporaries,
    resumable_dir,
    safe_child,
    write_json,
)
from augment.core.labels import MAX_CHUNK, MAX_ROWS, chunked_labels, part_counts, plan_counts
from augment.core.modalities import IMAGE, TABULAR
from augment.core.runtime import derive_seed, resolve_device
from augment.errors import AugmentError
from augment.evaluation.common import check_threshold
from augment.evaluation.curation import ClassCount, CurationReport, shortfall_line
from augment.images.bundle import ImageBundle
from augment.images.writer import PngPool
from augment.log import logger
from augment.registry import GenerativeModel, check_trained_on, load_bundle, load_synthesizer
from augment.settings import GenerateSettings
from augment.steps.shards import (
    BackgroundWriter,
    Shard,
    ordered_in_threads,
    parse_shard,
    part_digits,
    part_name,
)
from augment.tabular.writer import FORMATS, TableWriter, check_table_format

IMAGE_FORMATS = ("png",)
MAX_SAMPLING_THREADS = 4  # chunks of a table sampled at once (see sampling_threads)
DEFAULTS = GenerateSettings()
PART_ROWS = 1_000_000  # default part size of a table: ~9 MB of Parquet for Adult
PART_IMAGES = 10_000  # default part size of images: 10,000 PNG files
PNG_WORKERS_FROM = 2_000  # images in a run from which PNGs are encoded in worker processes


def generate(
    model: str | Path | GenerativeModel = DEFAULTS.model,
    n: int | None = DEFAULTS.n,
    out: str | Path = DEFAULTS.out,
    *,
    seed: int = DEFAULTS.seed,
    format: str | None = DEFAULTS.format,
    balance: bool = DEFAULTS.balance,
    counts: Mapping[Any, int] | None = None,
    chunk_size: int = DEFAULTS.chunk_size,
    part_size: int | None = DEFAULTS.part_size,
    shard: str | None = DEFAULTS.shard,
    device: str = DEFAULTS.device,
    data: str | Path = DEFAULTS.data,
    curate: bool = DEFAULTS.curate,
    curate_threshold: float = DEFAULTS.curate_threshold,
    progress: bool = True,
) -> dict[str, Any]:
    """Write ``n`` synthetic rows to ``out/synthetic.<format>/part-00000.<format>``, ... (read the
    folder as one table) and ``out/generation.json``;
    for an image model, ``n`` images to ``out/<class>/<n>.png`` with ``manifest.csv`` and
    ``classes.json``.

    ``format`` is ``parquet`` (default) or ``csv`` for tables and ``png`` for images.

    The label mix follows the real training data unless ``balance`` (equal classes) or
    ``counts`` (``{class: rows}``, overriding ``n``) say otherwise. Each requested class comes
    from the generator's condition, so the counts are exact. Rows stream in chunks of
    ``chunk_size`` into parts of ``part_size`` (None: 1,000,000 rows or 10,000 images): memory
    stays bounded for any ``n``; the same seed gives the same files.

    Run again after an interruption, the same call resumes: complete parts are kept.
    ``shard="I/N"`` (``I`` from 0) writes only the parts ``p`` with ``p % N == I`` and its own
    ``generation.shard-I-of-N.json``; the run that finds every part present (the last shard
    into the same ``out``, or an unsharded rerun over a folder holding all the parts) writes
    ``generation.json``. Under torchrun each rank takes its shard by itself.

    ``curate`` keeps only samples that a classifier trained on the training split of the
    prepared data ``data`` (which must match the model's schema; its test split is never read)
    gives their class with probability ``>= curate_threshold``; a class whose samples rarely
    pass keeps fewer than asked, with a warning, and ``generation.json``'s ``curation`` block
    says per class what was asked, drawn and kept.

    Returns ``generation.json``'s content, or, for a shard that leaves parts to others, its
    ``generation.shard-I-of-N.json`` (``"complete": false``).

    Example:
        >>> import augment
        >>> data = augment.ingest("digits", out=tmp / "digits", progress=False)
        >>> _ = augment.train(data, tmp / "model", steps=5, device="cpu", progress=False)
        >>> summary = augment.generate(tmp / "model", 20, tmp / "synth", balance=True,
        ...                            progress=False)
        >>> summary["per_class"]["7"], sorted(p.name for p in (tmp / "synth" / "7").iterdir())
        (2, ['000000.png', '000001.png'])
    """
    checked = GenerateSettings.check(
        dict(
            n=n, out=out, seed=seed, format=format, balance=balance, counts=counts or {},
            chunk_size=chunk_size, part_size=part_size, shard=shard, device=device, data=data,
            curate=curate, curate_threshold=curate_threshold,
        )
    )  # fmt: skip
    threshold = check_threshold(checked["curate_threshold"], "--curate-threshold")
    n, seed, counts, chunk_size = (checked[k] for k in ("n", "seed", "counts", "chunk_size"))
    part_size = checked["part_size"]
    counts = counts or None
    _check_options(n, seed, chunk_size, part_size, format, balance)
    my_shard = parse_shard(
        checked["shard"], rank=distributed.rank(), world_size=distributed.world_size()
    )
    if distributed.launched():
        device = _rank_device(device)
    synth = model if not isinstance(model, str | Path) else load_synthesizer(model, device=device)
    schema = synth.schema
    if schema is None:
        raise AugmentError("the synthesizer is not fitted: train it before generating")
    images = getattr(schema, "modality", TABULAR) == IMAGE
    format = format or ("png" if images else "parquet")
    allowed = IMAGE_FORMATS if images else FORMATS
    if format not in allowed:
        kind = "images" if images else "tables"
        raise AugmentError(
            f"unsupported output format {format!r} for {kind}: use {', '.join(allowed)}"
        )
    if not images:
        check_table_format(schema, format)  # before any output exists
    plan = plan_counts(schema.classes, schema.class_counts, n=n, balance=balance, counts=counts)
    part_size = part_size or (PART_IMAGES if images else PART_ROWS)
    inputs = (model,) if isinstance(model, str | Path) else ()
    if curate:
        inputs = (*inputs, data)
    check_output_dir(out, SYNTHETIC_SET, inputs)

    started = time.perf_counter()
    curator = _Curator.build(synth, data, seed, threshold, device) if curate else None
    job = _Job(
        synth=synth, plan=plan, seed=seed, format=format, part_size=part_size,
        chunk_size=chunk_size, images=images, curator=curator, threads=sampling_threads(synth),
    )  # fmt: skip
    record = job.record(_model_id(model, synth), data if curate else None)
    if images:
        job.folders(Path(out))  # a class name that is no folder name stops before any output
    work = resumable_dir(out, SYNTHETIC_SET, record, inputs)
    job.prepare(work)
    pending = job.pending(work, my_shard)
    bar = tqdm(
        total=sum(sum(c) for _, c, _ in pending), desc="generate", unit=job.unit,
        disable=not progress, leave=False,
    )  # fmt: skip
    with bar:  # the progress bar goes before any error is printed
        if images:
            job.write_images(work, pending, bar)
        else:
            job.write_tables(work, pending, bar)
    if not my_shard.whole:
        shard_summary = job.shard_summary(work, my_shard)
    complete = publish_resumable(
        work, out, SYNTHETIC_SET, lambda folder: job.finish(folder, started), inputs
    )
    target = Path(out)
    if not complete:
        logger.info(
            "shard %s: %d part(s) written to %s; the set is complete once every shard has run",
            my_shard, len(pending), work,
        )  # fmt: skip
        return shard_summary
    summary = read_json(target / "generation.json", "generation summary")
    if curator is not None and summary.get("curation", {}).get("short"):
        report = _report(summary["curation"])
        logger.warning("%s", shortfall_line(report))
    logger.info(
        "generated %d %ss (%s) in %.1f s -> %s",
        summary[job.unit + "s"],
        job.unit,
        ", ".join(f"{k}: {v}" for k, v in summary["per_class"].items()),
        summary["seconds"],
        target,
    )
    return summary


def _rank_device(device: str) -> str:
    """Under torchrun, ``auto``/``cuda`` is this rank's GPU (LOCAL_RANK), one process per GPU."""
    import torch

    if (device or "auto").lower() in ("auto", "cuda") and torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0") or 0)
        return f"cuda:{local % torch.cuda.device_count()}"
    return device


def _model_id(model: Any, synth: Any) -> str:
    """What identifies the model in the recorded settings: its folder's files (names, sizes,
    times: a retrained model is another one), or, for an object, its class and name."""
    if not isinstance(model, str | Path):
        return f"{type(synth).__qualname__}:{getattr(synth, 'name', '')}"
    digest = hashlib.sha256()
    root = Path(model)
    for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
        if path.is_file():
            info = path.stat()
            digest.update(f"{path.relative_to(root)}|{info.st_size}|{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def table_folder(out: str | Path, format: str) -> Path:
    """The folder of a table's parts, ``out/synthetic.<format>``: named like the single file of
    earlier versions, so what read that file reads the set; it holds nothing but the parts."""
    return Path(out) / f"synthetic.{format}"


def sampling_threads(synth: Any) -> int:
    """How many chunks to sample at once: one per free core, at most
    ``MAX_SAMPLING_THREADS``, for a model whose ``sample`` calls may run in threads side by
    side (``samples_concurrently``: TabGAN on the CPU), else one. On two cores one torch thread
    per chunk beat one chunk on both (BENCHMARKS.md): the noise, the span draws and the
    decoding run on one core each, only the products on all. The cap bounds the chunks held
    at once on a many-core machine, whose chunks then share the cores' threads (unmeasured)."""
    if not getattr(synth, "samples_concurrently", False):
        return 1
    from augment.evaluation.parallel import free_cores

    return min(free_cores(), MAX_SAMPLING_THREADS)


def _record_name(index: int) -> str:
    """A complete part's record: its counts (and curation numbers, and images' file list)."""
    return "." + part_name(index, "json")


@dataclass
class _Job:
    """One synthetic set: its plan cut into parts, and how a part is drawn and written."""

    synth: Any
    plan: list[int]
    seed: int
    format: str
    part_size: int
    chunk_size: int
    images: bool
    curator: _Curator | None = None
    threads: int = 1  # chunks sampled at once (see sampling_threads)
    classes: list[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.classes = list(self.synth.schema.classes)
        self.label_values = np.asarray(self.classes, dtype=object)  # class index -> label
        self.parts = max(1, math.ceil(sum(self.plan) / self.part_size))
        self.part_digits = part_digits(self.parts)  # fixed by the settings: same names on resume
        # Image files are numbered per class across parts: wide enough for the largest class.
        self.digits = max(6, len(str(max(self.plan, default=0))))
        # A table model that can return its string columns as Categoricals (TabGAN) does: the
        # writer stores them as Parquet dictionaries from their codes.
        accepts = inspect.signature(self.synth.sample).parameters
        self.sample_options = {"categorical": True} if "categorical" in accepts else {}

    @property
    def unit(self) -> str:
        return "image" if self.images else "row"

    def record(self, model_id: str, data: Any) -> dict[str, Any]:
        """The settings that decide the output; a rerun with the same ones resumes."""
        return {
            "model": model_id, "classes": [str(c) for c in self.classes], "plan": self.plan,
            "seed": self.seed, "format": self.format, "part_size": self.part_size,
            "chunk_size": self.chunk_size,
            "curate": None if self.curator is None else self.curator.report.threshold,
            "data": None if data is None else str(data),
        }  # fmt: skip

    def parts_folder(self, work: Path) -> Path:
        """Where the parts go: the table's folder; an image set's parts are its class folders."""
        return work if self.images else table_folder(work, self.format)

    def part_file(self, work: Path, index: int) -> Path:
        """A table's part ``index``."""
        return self.parts_folder(work) / part_name(index, self.format, self.part_digits)

    def prepare(self, work: Path) -> None:
        """Class folders (images; every one, even empty), and what a killed run left."""
        folder = self.parts_folder(work)
        names = {entry.name for entry in os.scandir(folder)} if folder.is_dir() else set()
        for name in names:  # .part-00003.parquet.abcd1234.tmp: a part a kill -9 interrupted
            if name.startswith(".part-") and name.endswith(".tmp"):
                remove_stale_temporaries(folder, name[1:].rsplit(".", 2)[0])
        if self.images:
            for name in self.folders(work):
                (work / name).mkdir(exist_ok=True)

    def folders(self, root: Path) -> list[str]:
        """Images: each class's folder name, checked to stay inside ``root``, one per class."""
        names = [safe_child(root, str(c)).name for c in self.classes]
        if len(set(names)) != len(names):
            raise AugmentError("two classes map to the same folder name; rename one of them")
        return names

    def done(self, work: Path, index: int) -> bool:
        if not (work / _record_name(index)).is_file():
            return False
        return self.images or self.part_file(work, index).is_file()

    def pending(self, work: Path, shard: Shard) -> list[tuple[int, list[int], list[int]]]:
        """``(part, class counts, first file number per class)`` of the shard's parts to write."""
        todo = []
        offsets = [0] * len(self.plan)
        for index, counts in enumerate(part_counts(self.plan, self.part_size, self.seed)):
            if shard.owns(index) and not self.done(work, index):
                todo.append((index, counts, list(offsets)))
            offsets = [a + b for a, b in zip(offsets, counts, strict=True)]
        return todo

    def chunks(self, index: int, counts: list[int]) -> Any:
        """``(class indices, samples, curation report or None)`` per chunk of part ``index``,
        in order; ``threads`` chunks are drawn at once (each has its own seed, so the samples
        do not depend on how many)."""
        part_seed = derive_seed(self.seed, "part", index)
        numbered = enumerate(chunked_labels(counts, self.chunk_size, part_seed))
        if self.curator is None:
            yield from ordered_in_threads(
                self._draw, ((index, n, labels) for n, labels in numbered), self.threads
            )
            return
        for number, label_idx in numbered:
            chunk_seed = derive_seed(self.seed, "part", index, number)
            got = self.curator.curate_chunk(label_idx, chunk_seed)
            yield got.labels, got.samples, got.report

    def _draw(self, index: int, number: int, label_idx: np.ndarray) -> tuple[Any, Any, None]:
        # Image models take class indices; table models the label values themselves.
        wanted = label_idx if self.images else self.label_values[label_idx]
        seed = derive_seed(self.seed, "part", index, number)
        samples = self.synth.sample(wanted, seed=seed, **self.sample_options)
        if len(samples) != len(label_idx):
            name = getattr(self.synth, "name", type(self.synth).__name__)
            raise AugmentError(
                f"model {name} returned {len(samples)} samples for {len(label_idx)} labels"
            )
        return label_idx, samples, None

    def part_record(self, labels: list[np.ndarray], reports: list[Any]) -> dict[str, Any]:
        kept = np.bincount(np.concatenate([np.zeros(0, np.int64), *labels]),
                           minlength=len(self.classes))  # fmt: skip
        record: dict[str, Any] = {"per_class": [int(k) for k in kept]}
        if self.curator is not None:
            report = CurationReport(self.curator.report.threshold, self.curator.report.classifier)
            for got in reports:
                report.add(got)
            record["curation"] = report.to_dict()
        return record

    def write_tables(self, work: Path, pending: list, bar: tqdm) -> None:
        """Each part sampled here while the previous chunks are written in a thread."""
        writer = _TableParts(work, lambda index: self.part_file(work, index), self.synth.schema,
                             self.format)  # fmt: skip
        with BackgroundWriter(writer.handle, writer.abort) as background:
            for index, counts, _ in pending:
                labels, reports = [], []
                for label_idx, frame, report in self.chunks(index, counts):
                    background.put((index, frame, None))
                    labels.append(label_idx)
                    reports.append(report)
                    bar.update(len(label_idx))
                record = self.part_record(labels, reports)
                if self.curator is None:
                    part = self.part_file(work, index)
                    _check_written(record["per_class"], counts, part)
                background.put((index, None, record))

    def write_images(self, work: Path, pending: list, bar: tqdm) -> None:
        """PNGs encoded in worker processes while the next chunks are drawn."""
        total = sum(sum(c) for _, c, _ in pending)
        workers = min(8, os.cpu_count() or 1) if total >= PNG_WORKERS_FROM else 0
        folders = self.folders(work)
        with PngPool(workers) as pool:
            for index, counts, offsets in pending:
                labels, reports, files = [], [], []
                numbers = list(offsets)
                for label_idx, batch, report in self.chunks(index, counts):
                    names = []
                    for label in label_idx:
                        names.append(f"{folders[label]}/{numbers[label]:0{self.digits}d}.png")
                        numbers[label] += 1
                    pool.submit(batch, [work / name for name in names])
                    files.extend(
                        [name, str(self.classes[k])]
                        for name, k in zip(names, label_idx, strict=True)
                    )
                    labels.append(label_idx)
                    reports.append(report)
                    bar.update(len(label_idx))
                pool.wait()  # every PNG of the part is on disk before its record says so
                record = self.part_record(labels, reports)
                if self.curator is None:
                    _check_written(record["per_class"], counts, work)
                record["files"] = files
                write_json(work / _record_name(index), record)

    def shard_summary(self, work: Path, shard: Shard) -> dict[str, Any]:
        """What this shard's parts hold, in ``generation.shard-I-of-N.json``."""
        owned = [p for p in range(shard.index, self.parts, shard.count)]
        summary = self._summary([read_json(work / _record_name(p)) for p in owned])
        summary.update(shard=str(shard), parts=owned, complete=False)
        write_json(work / f"generation.{shard.file_tag}.json", summary)
        return summary

    def finish(self, work: Path, started: float) -> bool:
        """``generation.json`` (and an image set's manifest) once every part is there."""
        if not all(self.done(work, p) for p in range(self.parts)):
            return False
        records = [read_json(work / _record_name(p), "part record") for p in range(self.parts)]
        summary = self._summary(records)
        if self.images:
            manifest = work / "manifest.csv"
            with atomic_path(manifest) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
                rows = csv.writer(f)
                rows.writerow(["file", "label"])
                for record in records:
                    rows.writerows(record["files"])
            classes = [str(c) for c in self.classes]
            write_json(work / "classes.json", classes)
            summary["files"] = "<class>/<n>.png, manifest.csv, classes.json"
        else:
            summary["files"] = f"{table_folder(work, self.format).name}/part-*.{self.format}"
        summary["seconds"] = round(time.perf_counter() - started, 3)
        write_json(work / "generation.json", summary)
        return True

    def _summary(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        per_class = np.sum([r["per_class"] for r in records], axis=0, dtype=np.int64)
        summary: dict[str, Any] = {
            self.unit + "s": int(per_class.sum()),
            "per_class": {str(c): int(k) for c, k in zip(self.classes, per_class, strict=True)},
            "format": self.format,
            "seed": self.seed,
            "chunk_size": self.chunk_size,
            "part_size": self.part_size,
            "parts": self.parts,
            "model": getattr(self.synth, "name", type(self.synth).__name__),
        }
        if self.curator is not None:
            report = _report(records[0]["curation"])
            for record in records[1:]:
                report.add(_report(record["curation"]))
            summary["curation"] = report.to_dict()
        return summary


def _report(block: dict[str, Any]) -> CurationReport:
    """A curation block of a record or summary, read back."""
    report = CurationReport(block["threshold"], block["classifier"], block["max_draws"])
    report.per_class = {c: ClassCount(**n) for c, n in block["per_class"].items()}
    return report


class _TableParts:
    """The writer thread's side: ``(part, frame, None)`` appends a chunk to the part's file
    (``file(part)``), ``(part, None, record)`` renames it into place and writes its record in
    ``work`` (beside the parts' folder, which holds only data)."""

    def __init__(self, work: Path, file: Callable[[int], Path], schema: Any, fmt: str) -> None:
        self.work, self.file, self.schema, self.fmt = work, file, schema, fmt
        self.open: TableWriter | None = None

    def handle(self, item: tuple[int, Any, dict[str, Any] | None]) -> None:
        index, frame, record = item
        if self.open is None:
            self.open = TableWriter(self.file(index), self.schema, self.fmt)
            self.open.__enter__()
        if frame is not None:
            self.open.write(frame)
            return
        writer, self.open = self.open, None
        writer.__exit__(None, None, None)
        if record is not None and sum(record["per_class"]) != writer.rows:
            raise RuntimeError(f"wrote {writer.rows} rows to {writer.path}; not kept")
        write_json(self.work / _record_name(index), record)

    def abort(self, exc: BaseException) -> None:
        """Drop the part being written: its temporary goes, nothing has its final name."""
        if self.open is not None:
            writer, self.open = self.open, None
            writer.__exit__(type(exc), exc, exc.__traceback__)


class _Curator:
    """Curation for generate: the judge trained on the prepared data's training split."""

    def __init__(self, curate_chunk: Any, threshold: float) -> None:
        self.curate_chunk = curate_chunk  # (class indices, seed) -> Curated
        self.report = CurationReport(threshold, "")  # threshold and judge, for the records

    @classmethod
    def build(
        cls, synth: Any, data: str | Path, seed: int, threshold: float, device: str
    ) -> _Curator:
        schema = synth.schema
        bundle = load_bundle(data)
        needs = "curation needs the data the model was trained on"
        check_trained_on(bundle.schema, schema, data, needs)
        judge_seed = derive_seed(seed, "curation-judge")
        started = time.perf_counter()
        # The judges are imported here: they load scikit-learn, SciPy and the evaluation's CNN,
        # which a run without --curate never needs (1.1 s of every generate's start-up).
        if isinstance(bundle, ImageBundle):
            from augment.images.evaluation import curation as image_curation

            # The judge runs where the model does (the synthesizer's device, else --device).
            dev = getattr(synth, "device", None) or resolve_device(device)
            train = bundle.train
            judge = image_curation.fit_judge(
                train.images, train.labels, len(schema.classes), seed=judge_seed, device=dev
            )
            describe = image_curation.describe_judge(judge)

            def curate_chunk(labels: np.ndarray, chunk_seed: int) -> Any:
                return image_curation.curate_images(
                    synth, judge, labels, classes=list(schema.classes), seed=chunk_seed,
                    threshold=threshold, warn=False,
                )  # fmt: skip

        else:
            from augment.tabular.evaluation import curation as table_curation

            # A streamed table's split may not fit in memory: the judge learns from a sample.
            real = bundle.rows("train", None, judge_seed)
            table_judge = table_curation.fit_judge(real, schema, seed=judge_seed)
            describe = table_curation.describe_judge()
            total = bundle.split_rows("train")
            if len(real) < total:
                describe += f" (a seeded sample of {len(real):,} of its {total:,} rows)"

            def curate_chunk(labels: np.ndarray, chunk_seed: int) -> Any:
                return table_curation.curate_rows(
                    synth, table_judge, labels, seed=chunk_seed, threshold=threshold, warn=False
                )

        logger.info(
            "curation: %s in %.1f s; keeping samples with p(class) >= %g",
            describe,
            time.perf_counter() - started,
            threshold,
        )
        curator = cls(curate_chunk, threshold)
        curator.report.classifier = describe
        return curator


def _check_options(
    n: int | None,
    seed: int,
    chunk_size: int,
    part_size: int | None,
    format: str | None,
    balance: bool,
) -> None:
    """Options of the wrong type or beyond what can be counted, named before any work."""
    for name, value, low, high in (
        ("--n", n, 0, MAX_ROWS),
        ("--seed", seed, 0, MAX_ROWS),
        ("--chunk-size", chunk_size, 1, MAX_CHUNK),
        ("--part-size", part_size, 1, MAX_ROWS),
    ):
        if value is None and name in ("--n", "--part-size"):
            continue
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise AugmentError(f"{name} must be a whole number, got {value!r}")
        if value > MAX_ROWS:
            raise AugmentError(
                f"{name} {value} is more than augment can count: at most {MAX_ROWS} (2**63 - 1)"
            )
        if not low <= value <= high:
            bounds = f"at least {low}" if high == MAX_ROWS else f"{low} to {high}"
            raise AugmentError(f"{name} must be {bounds}, got {value}")
    if format is not None and not isinstance(format, str):
        raise AugmentError(f"--format must be a name such as parquet or csv, got {format!r}")
    if not isinstance(balance, bool | np.bool_):
        raise AugmentError(f"balance must be true or false, got {balance!r}")


def _check_written(written: list[int], planned: list[int], target: Path) -> None:
    """What was written is what the plan (and generation.json) says, or nothing is kept."""
    if list(written) != list(planned):
        raise RuntimeError(f"wrote {written} to {target} but the plan was {planned}; not kept")
