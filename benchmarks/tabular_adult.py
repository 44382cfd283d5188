"""Benchmark: the project's tabular GAN against SDV's synthesizers on UCI Adult, in one run.

For each model (TabGAN last, see ``fit_order``): wall time to fit on adult.data (32,561 rows),
wall time to sample 100k rows, the SDMetrics QualityReport of 32,561 synthetic rows against the
real training rows, and train-on-synthetic / test-on-real (TSTR) macro-F1 and ROC-AUC on
adult.test with a HistGradientBoostingClassifier (native categoricals, random_state 0). The
real-data reference (the same classifier trained on adult.data) is reported beside them.

SDV models are fitted through SDV directly (``build_sdv_synthesizer`` only builds them from the
same schema as our adapter), so the fit time is SDV's own ``fit`` (its preprocessing included)
and the sampling time is SDV's own ``sample``, as in the DESIGN anchor; the adapter's sample
bank plays no part. SDV samples unconditionally (its own class mix); TabGAN is asked for the
real training labels in a seeded order (the real class mix), since conditioning is its API.

Usage (see benchmarks/README.md):
    python benchmarks/tabular_adult.py --models tabgan,sdv-ctgan
    nice -n 10 python benchmarks/tabular_adult.py --models sdv-gaussiancopula --rows 2000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

try:
    import augment  # noqa: F401
except ModuleNotFoundError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine import cpu_model  # benchmarks/machine.py, beside this script

from augment.core.files import write_json, write_text
from augment.core.runtime import resolve_device, seed_everything
from augment.errors import AugmentError, MissingExtraError
from augment.evaluation.curation import acceptance
from augment.registry import MODELS, make_synthesizer
from augment.tabular.evaluation.curation import curate_rows, fit_judge
from augment.tabular.ingest import ADULT_COLUMNS, build_schema, infer_kinds, load_adult
from augment.tabular.schema import TableSchema

BENCH_MODELS = ("tabgan", *(name for name in MODELS if name.startswith("sdv-")))
LABEL = "income"
POSITIVE = ">50K"
DEFAULT_ADULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "adult"
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "tabular_adult.json"
SDV_DEFAULT_EPOCHS = 300  # SDV 2.0's default for CTGAN and TVAE
MISSING_TOKEN = "?"


# -- data -------------------------------------------------------------------------------------


def load_data(adult_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(adult.data, adult.test, their source), ``?`` read as a missing value as ingest does."""
    if (adult_dir / "adult.data").is_file() and (adult_dir / "adult.test").is_file():
        frames = [
            _read_adult(adult_dir / "adult.data", 0),
            _read_adult(adult_dir / "adult.test", 1),
        ]
        source = str(adult_dir.resolve())
    else:
        frames = list(load_adult())
        source = "augment.tabular.ingest.load_adult() (built-in copy)"
    train, test = (_missing_as_nan(f) for f in frames)
    return train, test, source


def _read_adult(path: Path, skip: int) -> pd.DataFrame:
    # The same reading as augment.tabular.ingest.load_adult, for the uncompressed UCI files.
    text = [c for c in ADULT_COLUMNS if c not in _NUMERIC]
    frame = pd.read_csv(
        path, header=None, names=ADULT_COLUMNS, skiprows=skip, skipinitialspace=True,
        keep_default_na=False, dtype={c: str for c in text},
    )  # fmt: skip
    frame = frame.dropna(how="all")
    frame[LABEL] = frame[LABEL].str.rstrip(".")  # adult.test writes "<=50K."
    return frame.reset_index(drop=True)


_NUMERIC = ("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week")


def _missing_as_nan(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].mask(frame[name] == MISSING_TOKEN)
    return frame


def adult_schema(train: pd.DataFrame) -> TableSchema:
    kinds, dropped = infer_kinds(train, LABEL, {})
    return build_schema(train, LABEL, kinds, dropped, {"benchmark": "adult"})


def subsample(frame: pd.DataFrame, rows: int | None, seed: int) -> pd.DataFrame:
    if rows is None or rows >= len(frame):
        return frame
    return frame.sample(n=rows, random_state=seed).reset_index(drop=True)


# -- models -----------------------------------------------------------------------------------


class Fitted:
    """A fitted model as the benchmark needs it: timed fit, and ``sample(n, labels)``."""

    def __init__(self, fit_seconds: float, sample: Any, epochs: Any, details: dict[str, Any],
                 synthesizer: Any = None):  # fmt: skip
        self.fit_seconds = fit_seconds
        self.sample = sample  # (n rows, labels in the real class mix) -> DataFrame
        self.epochs = epochs
        self.details = details
        self.synthesizer = synthesizer  # augment's own model, which curation can draw from


def fit_tabgan(
    train: pd.DataFrame, schema: TableSchema, hyperparameters: dict[str, Any], seed: int,
    device: str, progress: bool,
) -> Fitted:  # fmt: skip
    synth = make_synthesizer("tabgan", hyperparameters)
    start = time.perf_counter()
    summary = synth.fit(train, schema, seed=seed, device=device, progress=progress)
    fit_seconds = time.perf_counter() - start

    def sample(n: int, labels: np.ndarray) -> pd.DataFrame:
        return synth.sample(labels, seed=seed)

    # The epochs actually trained (a step or time cap may stop short of the setting).
    epochs = (summary or {}).get("epochs", hyperparameters.get("epochs"))
    return Fitted(fit_seconds, sample, epochs, {"summary": summary}, synth)


def fit_sdv(
    model: str, train: pd.DataFrame, schema: TableSchema, epochs: int | None, seed: int,
    device: str, progress: bool,
) -> Fitted:  # fmt: skip
    from augment.tabular.sdv import TABLE, build_sdv_synthesizer, on_device, sdv_quiet

    torch_device = resolve_device(device)
    params = {} if model == "sdv-gaussiancopula" or epochs is None else {"epochs": epochs}
    seed_everything(seed)
    synth = build_sdv_synthesizer(model, schema, params, torch_device, verbose=progress)
    with sdv_quiet(progress), on_device(torch_device):
        start = time.perf_counter()
        synth.fit({TABLE: train})
        fit_seconds = time.perf_counter() - start

    def sample(n: int, labels: np.ndarray) -> pd.DataFrame:
        with sdv_quiet(progress), on_device(torch_device):
            return synth.sample(n)[TABLE]

    return Fitted(fit_seconds, sample, getattr(synth, "epochs", None), {"params": params})


def warm_lazy_imports() -> None:
    """Pay the one-time imports that a first fit would otherwise pay inside its timed section:
    torch's first optimiser imports ``torch._dynamo`` (0.8-1.2 s here) and TabGAN's encoder
    ``sklearn.mixture`` (0.3-1.0 s). Without this, whichever model fits first pays them and
    the ones after it do not (SDV imports its own at build time, outside its timed fit)."""
    import sklearn.mixture  # noqa: F401
    import torch

    weight = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.Adam([weight])
    weight.sum().backward()
    optimizer.step()


# -- scores -----------------------------------------------------------------------------------


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, schema: TableSchema) -> dict[str, float]:
    """SDMetrics QualityReport: overall, column shapes and column pair trends."""
    from sdmetrics.reports import QualityReport

    sdtype = {"continuous": "numerical", "categorical": "categorical", "datetime": "datetime"}
    columns = {c.name: {"sdtype": sdtype[c.kind]} for c in schema.columns}
    metadata = {"tables": {"data": {"columns": columns}}}
    report = QualityReport()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report.generate(
            {"data": real[schema.names]}, {"data": synthetic[schema.names]}, metadata,
            verbose=False,
        )  # fmt: skip
    props = report.get_properties().set_index("Property")["Score"]
    return {
        "quality": float(report.get_score()),
        "column_shapes": float(props["Column Shapes"]),
        "pair_trends": float(props["Column Pair Trends"]),
    }


def tstr(train: pd.DataFrame, test: pd.DataFrame, schema: TableSchema) -> dict[str, float]:
    """HistGradientBoosting (native categoricals, random_state 0) trained on ``train``."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import f1_score, roc_auc_score

    x_train, x_test = _features(train, schema), _features(test, schema)
    y_train = (train[LABEL] == POSITIVE).to_numpy()
    y_test = (test[LABEL] == POSITIVE).to_numpy()
    if len(np.unique(y_train)) < 2:  # a collapsed generator: no classifier to speak of
        return {"macro_f1": math.nan, "roc_auc": math.nan}
    clf = HistGradientBoostingClassifier(categorical_features="from_dtype", random_state=0)
    clf.fit(x_train, y_train)
    proba = clf.predict_proba(x_test)[:, 1]
    return {
        "macro_f1": float(f1_score(y_test, proba >= 0.5, average="macro")),
        "roc_auc": float(roc_auc_score(y_test, proba)),
    }


def curated_tstr(synth: Any, labels: np.ndarray, seed: int, train: pd.DataFrame,
                 test: pd.DataFrame, schema: TableSchema) -> dict[str, Any]:  # fmt: skip
    """TSTR of ``augment generate --curate``'s rows: as many rows, each kept only where the
    judge (HistGradientBoosting on the real training rows) gives its class probability >= 0.5.
    The judge's knowledge of the real rows is then in the synthetic labels: a distillation, so
    this is reported beside plain TSTR, never as it."""
    codes = pd.Index(schema.classes).get_indexer(labels)
    judge = fit_judge(train, schema, seed=seed)
    kept = curate_rows(synth, judge, codes, seed=seed, warn=False)
    return {
        "rows": len(kept.samples),
        "acceptance": round(acceptance(kept.report), 3),
        **tstr(kept.samples, test, schema),
    }


def _features(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    # One category list per column (the schema's), so codes mean the same in train and test.
    out = {}
    for col in schema.feature_columns:
        if col.kind == "categorical":
            out[col.name] = pd.Categorical(frame[col.name], categories=col.categories)
        else:
            out[col.name] = pd.to_numeric(frame[col.name], errors="coerce")
    return pd.DataFrame(out)


# -- one run ----------------------------------------------------------------------------------


def run_model(
    model: str, train: pd.DataFrame, test: pd.DataFrame, schema: TableSchema,
    args: argparse.Namespace, seed: int,
) -> dict[str, Any]:  # fmt: skip
    print(f"[{model}] seed {seed}: fitting on {len(train)} rows", file=sys.stderr, flush=True)
    if model == "tabgan":
        fitted = fit_tabgan(train, schema, args.tabgan_hyperparameters, seed, args.device,
                            args.progress)  # fmt: skip
    else:
        fitted = fit_sdv(model, train, schema, args.sdv_epochs, seed, args.device, args.progress)
    rng = np.random.default_rng(seed)
    real_labels = train[LABEL].to_numpy(dtype=object)
    big_labels = rng.choice(real_labels, size=args.sample_rows, replace=True)
    start = time.perf_counter()
    big = fitted.sample(args.sample_rows, big_labels)
    sample_seconds = time.perf_counter() - start
    assert len(big) == args.sample_rows, f"{model} returned {len(big)} rows"
    del big
    labels = rng.permutation(real_labels)
    synthetic = fitted.sample(len(train), labels)
    result = {
        "seed": seed,
        "epochs": fitted.epochs,
        "fit_seconds": round(fitted.fit_seconds, 2),
        "sample_seconds": round(sample_seconds, 3),
        "sample_rows": args.sample_rows,
        "synthetic_positive_rate": float((synthetic[LABEL] == POSITIVE).mean()),
        **quality(train, synthetic, schema),
        **tstr(synthetic, test, schema),
        **fitted.details,
    }
    if args.curated and fitted.synthesizer is not None:
        result["curated"] = curated_tstr(fitted.synthesizer, labels, seed, train, test, schema)
    print(f"[{model}] seed {seed}: {_brief(result)}", file=sys.stderr, flush=True)
    return result


def _brief(result: dict[str, Any]) -> str:
    return (
        f"fit {result['fit_seconds']:.1f} s, sample {result['sample_seconds']:.2f} s, "
        f"quality {result['quality']:.3f}, macro-F1 {result['macro_f1']:.3f}, "
        f"ROC-AUC {result['roc_auc']:.3f}"
    )


METRICS = (
    "fit_seconds", "sample_seconds", "quality", "column_shapes", "pair_trends", "macro_f1",
    "roc_auc",
)  # fmt: skip


def medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    out = {}
    for key in METRICS:
        values = [r[key] for r in runs if not math.isnan(r[key])]
        out[key] = statistics.median(values) if values else math.nan
    return out


def compare(models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Time to quality: TabGAN's fit time against SDV CTGAN's, and whether it matches its scores."""
    if "tabgan" not in models or "sdv-ctgan" not in models:
        return {}
    ours, theirs = models["tabgan"]["median"], models["sdv-ctgan"]["median"]
    out: dict[str, Any] = {
        "fit_time_ratio": ours["fit_seconds"] / theirs["fit_seconds"],
        "speedup": theirs["fit_seconds"] / ours["fit_seconds"],
        "quality_at_least_ctgan": bool(ours["quality"] >= theirs["quality"]),
        "macro_f1_at_least_ctgan": bool(ours["macro_f1"] >= theirs["macro_f1"]),
    }
    sdv = {m: r["median"] for m, r in models.items() if m != "tabgan"}
    best_quality = max(sdv, key=lambda m: _or_minus_inf(sdv[m]["quality"]))
    best_f1 = max(sdv, key=lambda m: _or_minus_inf(sdv[m]["macro_f1"]))
    out["best_sdv_quality"] = {"model": best_quality, "quality": sdv[best_quality]["quality"]}
    out["best_sdv_macro_f1"] = {"model": best_f1, "macro_f1": sdv[best_f1]["macro_f1"]}
    out["beats_best_sdv"] = bool(
        ours["quality"] >= sdv[best_quality]["quality"]
        and ours["macro_f1"] >= sdv[best_f1]["macro_f1"]
    )
    return out


def _or_minus_inf(value: float) -> float:
    return -math.inf if math.isnan(value) else value


# -- report -----------------------------------------------------------------------------------


def machine_info(device: str) -> dict[str, Any]:
    import sklearn
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(resolve_device(device)),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn": sklearn.__version__,
        "pandas": pd.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if info["device"].startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(resolve_device(device))
    for package in ("sdv", "sdmetrics"):
        try:
            info[package] = __import__(package).__version__
        except ImportError:
            info[package] = None
    return info


def markdown(results: dict[str, Any]) -> str:
    data, machine = results["data"], results["machine"]
    header = (
        "| Model | Epochs | Fit (s) | Sample {n} rows (s) | Quality | Column shapes "
        "| Pair trends | TSTR macro-F1 | TSTR ROC-AUC |"
    ).format(n=f"{results['config']['sample_rows']:,}")
    lines = [
        f"### UCI Adult: {data['train_rows']:,} training rows, scored on adult.test "
        f"({data['test_rows']:,} rows)",
        "",
        header,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model, entry in results["models"].items():
        m = entry["median"]
        epochs = "–" if entry["epochs"] is None else entry["epochs"]
        lines.append(
            f"| {model} | {epochs} | {m['fit_seconds']:,.1f} | {m['sample_seconds']:.2f} "
            f"| {_f(m['quality'])} | {_f(m['column_shapes'])} | {_f(m['pair_trends'])} "
            f"| {_f(m['macro_f1'])} | {_f(m['roc_auc'])} |"
        )
    real = results["reference"]
    lines.append(
        f"| real data (reference) | – | – | – | – | – | – | {_f(real['macro_f1'])} "
        f"| {_f(real['roc_auc'])} |"
    )
    lines.append("")
    cmp = results["comparison"]
    if cmp:
        yes = {True: "yes", False: "no"}
        lines.append(
            f"Time to quality: TabGAN fits in {cmp['fit_time_ratio']:.2f}x SDV CTGAN's time "
            f"({cmp['speedup']:.1f}x faster); quality >= CTGAN: "
            f"{yes[cmp['quality_at_least_ctgan']]}; macro-F1 >= CTGAN: "
            f"{yes[cmp['macro_f1_at_least_ctgan']]}; beats the best SDV model run on both: "
            f"{yes[cmp['beats_best_sdv']]}."
        )
        lines.append("")
    repeats = results["config"]["repeats"]
    lines += [
        f"Medians over {repeats} run{'s' if repeats > 1 else ''}. Quality: SDMetrics "
        f"{machine['sdmetrics']} QualityReport on {data['train_rows']:,} synthetic rows vs the "
        "real training rows. TSTR: HistGradientBoostingClassifier (native categoricals, "
        "random_state 0) trained on synthetic rows, tested on real adult.test.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, device {machine['device']}"
        + (f" ({machine['gpu']})" if machine.get("gpu") else "")
        + f"; Python {machine['python']}, torch {machine['torch']}, SDV {machine['sdv']}, "
        f"scikit-learn {machine['sklearn']}; {machine['date']}.",
        "",
        f"Command: `{results['command']}`",
    ]
    return "\n".join(lines) + "\n"


def _no_nan(value: Any) -> Any:
    # JSON has no NaN: a score that does not exist (a collapsed generator) is null.
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _f(value: float) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


# -- command line -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fit TabGAN and SDV baselines on UCI Adult; report time, fidelity and TSTR.",
    )
    parser.add_argument(
        "--models",
        default="tabgan,sdv-ctgan",
        help=f"comma-separated, from: {', '.join(BENCH_MODELS)} (default: %(default)s)",
    )
    parser.add_argument(
        "--adult-dir",
        type=Path,
        default=DEFAULT_ADULT_DIR,
        help="folder with adult.data and adult.test; the built-in copy if absent",
    )
    parser.add_argument(
        "--sdv-epochs",
        type=int,
        default=SDV_DEFAULT_EPOCHS,
        help="epochs for sdv-ctgan and sdv-tvae (default: %(default)s)",
    )
    parser.add_argument(
        "--tabgan-epochs",
        type=int,
        default=None,
        help="override TabGAN's epochs (default: its own default)",
    )
    parser.add_argument(
        "--tabgan-params", default="{}", help="TabGAN hyper-parameters as a JSON object"
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="fits per model (seeds 0..N-1); medians are reported"
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument(
        "--rows", type=int, default=None, help="subsample this many training rows (smoke runs only)"
    )
    parser.add_argument(
        "--sample-rows",
        type=int,
        default=100_000,
        help="rows in the timed sampling run (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_OUT,
        help="JSON results; the Markdown table goes beside it (.md)",
    )
    parser.add_argument("--progress", action="store_true", help="show the models' progress bars")
    parser.add_argument(
        "--curated",
        action="store_true",
        help="also TSTR of TabGAN rows curated as `augment generate --curate` does",
    )
    args = parser.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in BENCH_MODELS]
    if unknown or not args.models:
        parser.error(f"unknown model(s) {', '.join(unknown)}: use {', '.join(BENCH_MODELS)}")
    if args.repeats < 1 or args.sample_rows < 1 or (args.rows is not None and args.rows < 100):
        parser.error("--repeats and --sample-rows must be positive, --rows at least 100")
    try:
        args.tabgan_hyperparameters = dict(json.loads(args.tabgan_params))
    except (ValueError, TypeError) as exc:
        parser.error(f"--tabgan-params is not a JSON object: {exc}")
    if args.tabgan_epochs is not None:
        args.tabgan_hyperparameters["epochs"] = args.tabgan_epochs
    return args


def fit_order(models: list[str]) -> list[str]:
    """The models in the order given, TabGAN after the others: its training sets glibc's heap
    thresholds for the rest of the process (augment/core/heap.py), with which SDV's CTGAN fits
    faster (BENCHMARKS.md, "The C heap during training"); the SDV models are timed as they run
    by default."""
    return sorted(models, key=lambda model: model == "tabgan")


def check_models(models: list[str]) -> None:
    """Fail before any training when a model or scorer cannot be imported."""
    from augment.tabular.sdv import require_sdv

    try:
        import sdmetrics  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "the quality score needs sdmetrics, in the optional SDV extra: "
            "pip install 'augment[sdv]'"
        ) from None
    for model in models:
        if model == "tabgan":
            try:
                from augment.tabular.gan import TabGAN  # noqa: F401
            except ImportError as exc:
                raise AugmentError(f"tabgan is not available: {exc}") from None
        else:
            require_sdv(model)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = (
        shlex.join([Path(sys.executable).name, *sys.argv])
        if argv is None
        else shlex.join(["python", "benchmarks/tabular_adult.py", *argv])
    )
    try:
        check_models(args.models)
        train, test, source = load_data(args.adult_dir)
        train = subsample(train, args.rows, args.seed)
        schema = adult_schema(train)
        reference = tstr(train, test, schema)
        warm_lazy_imports()
        models: dict[str, dict[str, Any]] = {}
        for model in fit_order(args.models):
            runs = [
                run_model(model, train, test, schema, args, args.seed + r)
                for r in range(args.repeats)
            ]
            models[model] = {"epochs": runs[0]["epochs"], "median": medians(runs), "runs": runs}
    except AugmentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    results = {
        "benchmark": "tabular_adult",
        "command": command,
        "machine": machine_info(args.device),
        "config": {
            "models": args.models,
            "sdv_epochs": args.sdv_epochs,
            "tabgan_hyperparameters": args.tabgan_hyperparameters,
            "repeats": args.repeats,
            "seed": args.seed,
            "device": args.device,
            "rows": args.rows,
            "sample_rows": args.sample_rows,
        },  # fmt: skip
        "data": {
            "source": source,
            "train_rows": len(train),
            "test_rows": len(test),
            "positive_rate_train": float((train[LABEL] == POSITIVE).mean()),
        },  # fmt: skip
        "reference": reference,
        "models": models,
        "comparison": compare(models),
    }
    table = markdown(results)
    write_json(args.out, _no_nan(results))
    write_text(args.out.with_suffix(".md"), table)
    print(table)
    print(f"results: {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
