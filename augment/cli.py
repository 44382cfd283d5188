"""The ``augment`` command line: thin wrappers that merge options over params.yaml and call the API.

Exit codes: 0 success, 1 the system failed (disk, permissions, memory), 2 bad input or usage,
3 a missing optional extra, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM); training writes a
checkpoint before either.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from augment import __version__
from augment.core.failures import EXIT_SYSTEM, describe_system_failure
from augment.core.interrupts import interrupt_exit_code, interrupt_message, terminate_as_interrupt
from augment.errors import AugmentError
from augment.log import configure, logger
from augment.registry import MODEL_CHOICES
from augment.settings import (
    EvaluateSettings,
    GenerateSettings,
    IngestSettings,
    StageSettings,
    TrainSettings,
    load_params,
    parse_assignments,
)


class _OneLineUsageErrors(TyperGroup):
    """The command group, whose usage errors (an unknown command or option, a value of the wrong
    type, a missing argument) end like every other failure: one ``augment: error:`` line and
    exit 2, where Typer would draw its usage panel."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:  # a caller that handles the exceptions itself
            return super().main(args, prog_name, complete_var, False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except typer.TyperException as exc:  # click's UsageError and kin, as Typer ships them
            context = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError":
                # A bare `augment`: its help, which Typer's rich formatting has printed already.
                if exc.format_message().strip():
                    typer.echo(exc.format_message(), err=True)
            else:
                message = _one_line(exc.format_message() or type(exc).__name__).rstrip(".")
                hint = f"; see '{context.command_path} --help'" if context else ""
                typer.echo(f"augment: error: {message}{hint}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("augment: error: aborted", err=True)
            sys.exit(1)
        # Without standalone mode a command's typer.Exit comes back as its code; a command
        # that returns normally returns None.
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_OneLineUsageErrors,
    name="augment",
    help="GAN-based data augmentation: ingest -> train -> generate -> evaluate.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
)

PARAMS_HELP = "Settings come from this YAML file's section for the stage; options win over it."
ParamsOption = typer.Option(
    None, "--params", help=PARAMS_HELP + " (default: ./params.yaml if present)"
)
PipelineOption = typer.Option(
    None,
    "--pipeline",
    help="Read this stage's settings from the params file's NAME block (e.g. digits) instead"
    " of its top level.",
)
DeviceOption = typer.Option(None, "--device", help="auto (CUDA when present), cpu or cuda.")


@contextmanager
def user_errors() -> Iterator[None]:
    """Every failure is one line on stderr and a non-zero exit, never a traceback.

    A user's mistake (:class:`AugmentError`) exits 2 (3: a missing extra); Ctrl-C 130 and SIGTERM
    143, after the same cleanup; a full disk, a folder that cannot be written or too little
    memory 1, naming the path or size. Anything else is a bug: one line too, with the traceback
    under ``--verbose``.
    """
    try:
        with terminate_as_interrupt():
            yield
    except AugmentError as exc:
        typer.echo(f"augment: error: {_one_line(exc)}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt as exc:
        typer.echo(interrupt_message(exc), err=True)
        raise typer.Exit(interrupt_exit_code(exc)) from None
    except Exception as exc:
        if isinstance(exc, typer.Exit | typer.Abort | typer.TyperException):
            raise  # the command line's own exits and usage errors (_OneLineUsageErrors)
        logger.debug("traceback of the failure below", exc_info=True)
        system = describe_system_failure(exc)
        if system is None:
            system = (
                f"unexpected {type(exc).__name__}: {_one_line(exc)} (a bug in augment; rerun with"
                " --verbose for the traceback and report it)"
            )
        typer.echo(f"augment: error: {system}", err=True)
        raise typer.Exit(EXIT_SYSTEM) from None


def _one_line(exc: BaseException | str) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) if lines else type(exc).__name__


def _version(value: bool) -> None:
    if value:
        typer.echo(f"augment {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Only warnings and errors; no progress bars."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug output."),
) -> None:
    configure(-1 if quiet else (1 if verbose else 0))
    _STATE["progress"] = not quiet


_STATE: dict[str, Any] = {"progress": True}


def _default(stage: type[StageSettings], name: str) -> str:
    """`` (default: VALUE)`` for an option's help, from the stage's one definition."""
    return f" (default: {stage.default(name)})"


@app.command()
def ingest(
    source: str = typer.Option(
        None,
        "--source",
        "-s",
        help="A .csv/.tsv/.parquet table; an image folder (one sub-folder per class), MNIST IDX"
        " files or an .npz with x and y; or a built-in dataset: adult, digits."
        + _default(IngestSettings, "source"),
    ),
    label: str = typer.Option(
        None, "--label", "-l", help="The label column (required for your own file; adult: income)."
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Folder for the prepared splits and schema.json." + _default(IngestSettings, "out"),
    ),
    test_size: float = typer.Option(
        None,
        "--test-size",
        help="Share of rows held out as the test split (adult uses its official test file)."
        + _default(IngestSettings, "test_size"),
    ),
    validation_size: float = typer.Option(
        None,
        "--validation-size",
        help="Share of rows for the validation split (the privacy holdout)."
        + _default(IngestSettings, "validation_size"),
    ),
    seed: int = typer.Option(
        None, "--seed", help="Seed for the stratified splits." + _default(IngestSettings, "seed")
    ),
    kind: list[str] = typer.Option(
        None,
        "--kind",
        help="Override a column's kind: COLUMN=continuous|categorical|datetime|drop (repeatable).",
    ),
    size: int = typer.Option(
        None, "--size", help="Images: square size in pixels, 8 to 64. (default: the images' own)"
    ),
    channels: int = typer.Option(
        None, "--channels", help="Images: 1 (grey) or 3 (RGB). (default: 1 if all are grey)"
    ),
    per_class: int = typer.Option(
        None, "--per-class", help="Images: keep only this many training images per class."
    ),
    unlabelled: Path = typer.Option(
        None,
        "--unlabelled",
        help="Images: a folder (searched recursively), .npz (x) or IDX file of images without"
        " classes. The image GAN learns from them before the class enters; no classifier sees"
        " them. Copies of labelled images are dropped.",
    ),
    stream: str = typer.Option(
        None,
        "--stream",
        help="Tables: read the file in batches, never whole, for tables larger than memory"
        " (always | never | auto: when it would not fit in the memory available)."
        + _default(IngestSettings, "stream"),
    ),
    params: Path = ParamsOption,
    pipeline: str = PipelineOption,
) -> None:
    """Prepare a table or an image set: read it, check it, and write stratified splits.

    Tables: column kinds inferred, missing values handled. Images: resized and converted to one
    size and channel count; unreadable files skipped and named.

    Examples: augment ingest --source my.csv --label churn;
    augment ingest --source big.csv --label churn --stream always;
    augment ingest --source photos/ --size 32 --out data/photos
    """
    from augment.steps.ingest import ingest as run_ingest

    with user_errors():
        settings = IngestSettings.resolve(
            load_params(params, pipeline),
            {
                "source": source,
                "label": label,
                "out": out,
                "test_size": test_size,
                "validation_size": validation_size,
                "seed": seed,
                "size": size,
                "channels": channels,
                "per_class": per_class,
                "unlabelled": unlabelled,
                "stream": stream,
            },
        )
        kinds = {**settings.kinds, **parse_assignments(kind, "--kind")}  # params' kinds, then these
        run_ingest(**{**settings.arguments(), "kinds": kinds}, progress=_STATE["progress"])


@app.command()
def train(
    data: Path = typer.Option(
        None,
        "--data",
        "-d",
        help="Prepared data folder from `augment ingest`." + _default(TrainSettings, "data"),
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Model folder (weights, config, encoder)." + _default(TrainSettings, "out"),
    ),
    model: str = typer.Option(
        None,
        "--model",
        "-m",
        help=f"Synthesizer: auto, {', '.join(MODEL_CHOICES)}; sdv-* need the [sdv] extra."
        " (default: auto: tabgan for tables, imagegan for images)",
    ),
    epochs: int = typer.Option(
        None, "--epochs", help="Tables: training epochs (passes over the training split)."
    ),
    steps: int = typer.Option(None, "--steps", help="Images: training steps (generator updates)."),
    batch_size: int = typer.Option(None, "--batch-size", help="Rows or images per training step."),
    snapshots: Path = typer.Option(
        None, "--snapshots", help="Images: folder for a sample grid every snapshot_every steps."
    ),
    dvclive: Path = typer.Option(
        None, "--dvclive", help="Folder for DVCLive training curves (losses, fidelity)."
    ),
    set_: list[str] = typer.Option(
        None,
        "--set",
        help="Any other setting or hyper-parameter: KEY=VALUE (repeatable), e.g. --set lr_g=1e-4;"
        " a dotted key names one entry of a sub-section: --set tabgan.epochs=50.",
    ),
    device: str = DeviceOption,
    seed: int = typer.Option(
        None,
        "--seed",
        help="Seed for everything random in training." + _default(TrainSettings, "seed"),
    ),
    restart: bool = typer.Option(
        False, "--restart", help="Start over: drop the checkpoint an interrupted run left."
    ),
    checkpoint_every: int = typer.Option(
        None,
        "--checkpoint-every",
        help="Steps between checkpoints (also written on Ctrl-C/SIGTERM). (default: 1000)",
    ),
    checkpoint_dir: Path = typer.Option(
        None, "--checkpoint-dir", help="Checkpoint folder. (default: .NAME.checkpoint beside --out)"
    ),
    params: Path = ParamsOption,
    pipeline: str = PipelineOption,
) -> None:
    """Train the synthesizer on the prepared training split (never on validation or test).

    Hyper-parameters come from params.yaml's train section: flat, or in the chosen model's
    sub-section (tabgan:, imagegan:); --epochs, --steps, --batch-size and --set win over both.
    An interrupted run resumes from its checkpoint when the same command runs again. Under
    torchrun it trains data-parallel, one process per GPU (see the README).

    Example: augment train --epochs 50 --device cpu
    """
    from augment.steps.train import train as run_train

    with user_errors():
        settings = TrainSettings.resolve(
            load_params(params, pipeline),
            {
                "data": data,
                "out": out,
                "model": model,
                "epochs": epochs,
                "steps": steps,
                "batch_size": batch_size,
                "snapshots": snapshots,
                "dvclive": dvclive,
                "device": device,
                "seed": seed,
                "restart": restart or None,
                "checkpoint_every": checkpoint_every,
                "checkpoint_dir": checkpoint_dir,
            },
            parse_assignments(set_, "--set"),
        )
        run_train(**settings.arguments(), progress=_STATE["progress"])


@app.command()
def generate(
    model: Path = typer.Option(
        None, "--model", "-m", help="Trained model folder." + _default(GenerateSettings, "model")
    ),
    n: int = typer.Option(
        None,
        "--n",
        "-n",
        help="Rows or images to generate, in the real label mix unless --balance/--count."
        + _default(GenerateSettings, "n"),
    ),
    out: Path = typer.Option(
        None,
        "--out",
        "-o",
        help="Output folder: synthetic.<format> (tables: a folder of parts part-00000.<format>,"
        " ..., read as one table) or <class>/<n>.png, manifest.csv and classes.json (images),"
        " with generation.json. Run again after an interruption: it resumes."
        + _default(GenerateSettings, "out"),
    ),
    seed: int = typer.Option(
        None, "--seed", help="Same seed, same rows." + _default(GenerateSettings, "seed")
    ),
    format: str = typer.Option(
        None, "--format", "-f", help="Tables: parquet or csv (default: parquet). Images: png."
    ),
    balance: bool = typer.Option(
        None, "--balance/--proportional", help="Equal rows per class instead of the real mix."
    ),
    count: list[str] = typer.Option(
        None,
        "--count",
        help="Exact rows for a class: CLASS=N (repeatable; overrides --n and --balance).",
    ),
    chunk_size: int = typer.Option(
        None,
        "--chunk-size",
        help="Rows generated and written at a time (bounds memory)."
        + _default(GenerateSettings, "chunk_size"),
    ),
    part_size: int = typer.Option(
        None,
        "--part-size",
        help="Samples per output part (a unit of resuming and sharding). (default: 1000000 rows"
        " or 10000 images)",
    ),
    shard: str = typer.Option(
        None,
        "--shard",
        help="I/N: write only part I of N (I from 0: parts p with p % N == I), e.g. one task of a"
        " SLURM array; the N shards together are one whole run. torchrun ranks shard by"
        " themselves.",
    ),
    device: str = DeviceOption,
    curate: bool = typer.Option(
        None,
        "--curate/--no-curate",
        help="Keep only samples that a classifier trained on the real training split (of --data)"
        " assigns to their class with probability >= --curate-threshold."
        + _default(GenerateSettings, "curate"),
    ),
    curate_threshold: str = typer.Option(
        None,
        "--curate-threshold",
        help="The probability a curated sample's class needs, 0 to 1."
        + _default(GenerateSettings, "curate_threshold"),
    ),
    data: Path = typer.Option(
        None,
        "--data",
        "-d",
        help="Prepared data the model was trained on; only read with --curate."
        + _default(GenerateSettings, "data"),
    ),
    params: Path = ParamsOption,
    pipeline: str = PipelineOption,
) -> None:
    """Generate a labelled synthetic set: a table in the original schema, or PNGs per class.

    Example: augment generate --out synth/counted --count '>50K=5000' --count '<=50K=5000'
    """
    from augment.steps.generate import generate as run_generate

    with user_errors():
        # Class names on the command line are names, even when they look like numbers.
        counts = {str(k): v for k, v in parse_assignments(count, "--count", last=True).items()}
        settings = GenerateSettings.resolve(
            load_params(params, pipeline),
            {
                "model": model,
                "n": n,
                "out": out,
                "seed": seed,
                "format": format,
                "balance": balance,
                "counts": counts or None,
                "chunk_size": chunk_size,
                "part_size": part_size,
                "shard": shard,
                "device": device,
                "data": data,
                "curate": curate,
                "curate_threshold": curate_threshold,
            },
        )
        run_generate(**settings.arguments(), progress=_STATE["progress"])


@app.command()
def evaluate(
    data: Path = typer.Option(
        None, "--data", "-d", help="Prepared data folder." + _default(EvaluateSettings, "data")
    ),
    model: Path = typer.Option(
        None, "--model", "-m", help="Trained model folder." + _default(EvaluateSettings, "model")
    ),
    metrics: Path = typer.Option(
        None,
        "--metrics",
        help="Metrics JSON for `dvc metrics`." + _default(EvaluateSettings, "metrics"),
    ),
    plots: Path = typer.Option(
        None, "--plots", help="Folder for the plot CSVs." + _default(EvaluateSettings, "plots")
    ),
    report: Path = typer.Option(
        None,
        "--report",
        help="Markdown summary with the verdict." + _default(EvaluateSettings, "report"),
    ),
    seeds: int = typer.Option(None, "--seeds", help="Repeats per recipe (>= 5 for a fair CI)."),
    ratio: list[float] = typer.Option(
        None, "--ratio", help="Synthetic rows per real row, one recipe each (repeatable)."
    ),
    fraction: list[float] = typer.Option(
        None, "--fraction", help="Tables: real-data fractions for the low-data sweep (repeatable)."
    ),
    classifier: list[str] = typer.Option(
        None,
        "--classifier",
        help="Downstream classifiers. Tables: hgb, logreg (repeatable). Images: one of auto,"
        " cnn, resnet18.",
    ),
    per_class: list[int] = typer.Option(
        None, "--per-class", help="Images: real images per class in the low-data sweep (repeat)."
    ),
    smote: bool = typer.Option(
        None, "--smote/--no-smote", help="Tables: include the SMOTE-NC recipe. (default: on)"
    ),
    jobs: int = typer.Option(
        None, "--jobs", help="Classifier fits side by side. (default: the cores this may use)"
    ),
    backend: str = typer.Option(
        None, "--backend", help="Where the fits run: loky, threading or dask. (default: loky)"
    ),
    scheduler: str = typer.Option(
        None, "--scheduler", help="Dask scheduler address for --backend dask (tcp://HOST:8786)."
    ),
    set_: list[str] = typer.Option(
        None,
        "--set",
        help="Any other evaluate setting: KEY=VALUE (repeatable); a dotted key names one entry"
        " of a sub-section: --set tabular.fractions=[1.0].",
    ),
    device: str = DeviceOption,
    seed: int = typer.Option(
        None, "--seed", help="Base seed of the whole protocol." + _default(EvaluateSettings, "seed")
    ),
    params: Path = ParamsOption,
    pipeline: str = PipelineOption,
) -> None:
    """Does synthetic data help? Train classifiers on each recipe, score them on real test data.

    Recipes: real only; real + synthetic at each ratio; synthetic only; real + the classic
    alternative (SMOTE-NC for tables; crop/affine augmentation for images, also with synthetic);
    and the same where real data is scarce (fractions of a table, images per class), with the
    GAN retrained on each reduced set. Settings for one modality go under params.yaml's
    evaluate.tabular or evaluate.image; options and --set win over them.

    Example: augment evaluate --seeds 5 --ratio 0.5 --ratio 1 --fraction 0.05 --fraction 1
    """
    from augment.steps.evaluate import evaluate as run_evaluate

    with user_errors():
        settings = EvaluateSettings.resolve(
            load_params(params, pipeline),
            {
                "data": data,
                "model": model,
                "metrics": metrics,
                "plots": plots,
                "report": report,
                "seeds": seeds,
                "ratios": ratio or None,
                "fractions": fraction or None,
                "classifiers": classifier or None,
                "per_class": per_class or None,
                "smote": smote,
                "jobs": jobs,
                "backend": backend,
                "scheduler": scheduler,
                "device": device,
                "seed": seed,
            },
            parse_assignments(set_, "--set"),
        )
        run_evaluate(**settings.arguments(), progress=_STATE["progress"])


@app.command()
def report(
    data: Path = typer.Option(
        None, "--data", "-d", help="Prepared data folder. (default: evaluate's data)"
    ),
    metrics: Path = typer.Option(
        None, "--metrics", help="Metrics JSON of `augment evaluate`. (default: evaluate's metrics)"
    ),
    plots: Path = typer.Option(
        None, "--plots", help="Plot folder of `augment evaluate`. (default: evaluate's plots)"
    ),
    summary: Path = typer.Option(
        None,
        "--summary",
        help="Markdown summary of `augment evaluate`, verdict first. (default: evaluate's report)",
    ),
    synthetic: Path = typer.Option(
        None,
        "--synthetic",
        "-s",
        help="Generated set: a table file or folder, or an image folder. (default: generate's out"
        " when it exists)",
    ),
    model: Path = typer.Option(
        None,
        "--model",
        "-m",
        help="Trained model, sampled on the CPU when there is no generated set. (default: "
        "evaluate's model when no generated set exists)",
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="The HTML page. (default: the summary's path with .html)"
    ),
    seed: int = typer.Option(0, "--seed", help="Which real rows/images are drawn; model samples."),
    params: Path = ParamsOption,
    pipeline: str = PipelineOption,
) -> None:
    """One self-contained HTML page of the evaluation, to open in a browser (offline).

    The verdict first, then the headline numbers, gain vs synthetic ratio and vs real-data
    scarcity with 95% interval bands, the recipe tables, fidelity and privacy, and real against
    synthetic data (per-class image rows; per-column distributions and the association
    difference for tables). Reads what `augment evaluate` and `augment generate` wrote.

    Example: augment report --out reports/summary.html
    """
    from augment.reporting.html import write_report

    with user_errors():
        stages = load_params(params, pipeline)
        ev = EvaluateSettings.resolve(
            stages,
            {"data": data, "metrics": metrics, "plots": plots, "report": summary, "model": model},
        )
        if synthetic is None and model is None:
            # Defaults: the generated set when there is one, else the evaluated model.
            generated = Path(GenerateSettings.resolve(stages).out)
            synthetic = generated if generated.exists() else None
            model = Path(ev.model) if synthetic is None and Path(ev.model).is_dir() else None
        summary_path: Path | None = Path(ev.report)
        if summary is None and not summary_path.is_file():
            summary_path = None  # no summary: the verdict is derived from the metrics
        written = write_report(
            metrics=ev.metrics,
            plots=ev.plots,
            data=ev.data,
            summary=summary_path,
            synthetic=synthetic,
            model=model,
            out=out or Path(ev.report).with_suffix(".html"),
            seed=seed,
        )
        typer.echo(f"wrote {written}")


@app.command()
def info(
    model: Path = typer.Argument(..., help="A trained model folder (from `augment train`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the full summary as JSON."),
) -> None:
    """What a model was trained on, with which hyper-parameters, and how training went.

    Example: augment info models/digits
    """
    import json

    from augment.info import format_info, model_info

    with user_errors():
        summary = model_info(model)
        typer.echo(json.dumps(summary, indent=2) if as_json else format_info(summary))


def main() -> None:
    app(prog_name="augment")  # also under `python -m augment`, whose help and hints say augment
