"""``augment evaluate`` for tables: does mixing synthetic rows into the real training data help a
downstream classifier, by how much, at which mix, where real data is scarce, and versus SMOTE-NC?

Protocol (docs/architecture.md, "Evaluation protocol"):

* every recipe's classifiers are scored on the held-out real **test** split, which no synthesizer
  ever sees (synthesizers are fitted on training rows only);
* each seed varies the classifier's ``random_state``, which synthetic rows are drawn and the SMOTE
  draw - and, in the low-data sweep, which real subset is used;
* gains are **paired**: recipe score minus real-only score *with the same seed*, summarised by
  the mean and a Student-t 95% interval over seeds;
* the sweep over real-data fractions < 1 retrains the synthesizer on each reduced subset (a model
  trained on all rows would leak the rows the subset left out); fraction 1.0 reuses the trained
  model. ``sweep_retrain="fraction"`` fits one synthesizer per fraction (one subset, seeds vary
  the draws and classifiers); ``"seed"`` fits one per fraction and seed, each on its own subset,
  so the interval also covers which rows were scarce - more honest, ``sweep_seeds`` times the
  GAN cost.
* every fit is scored on the validation split too: the verdict's mix (ratio, weight, curation) is
  the best there, and the test split scores that choice once; ``tune_threshold`` adds the
  baseline ``real+threshold`` (real rows, the minority class's decision threshold tuned on
  validation);
* ``balance`` adds the mix ``real+balanced``: synthetic rows that bring every class up to the
  majority's count, the GAN as an oversampler on SMOTE-NC's terms (the ratio mixes keep the real
  class proportions, so against SMOTE-NC they lack its rebalancing); with ``curate`` also
  ``real+balanced+curated``;
* ``synthetic_weight``: each real + synthetic recipe runs once per weight a synthetic row has in
  the classifiers' loss (``sample_weight``; real and SMOTE rows, real-derived, weigh 1); weight 1
  always runs. ``curate`` adds ``real+curated@m`` (m: the sweep ratio) on every block: synthetic
  rows kept only where HistGradientBoosting, fitted on that block's real training rows (never
  test), gives their class probability >= ``curate_threshold`` (:mod:`augment.evaluation.curation`).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from augment.core.modalities import TABULAR
from augment.core.models import GenerativeModel
from augment.core.runtime import derive_seed
from augment.core.splits import SPLITS
from augment.errors import AugmentError
from augment.evaluation.common import (
    StageTimer,
    SweepRetrains,
    SynthesizerFactory,
    check_ratios,
    check_threshold,
    check_weights,
    fit_bar,
    synthesizers_for,
)
from augment.evaluation.curation import CurationReport, shortfall_line
from augment.evaluation.parallel import FanOut, Task, run_fits
from augment.evaluation.recipes import (
    REAL,
    SYNTH,
    mix_recipe,
    parse_mix,
    real_recipe,
    synth_recipe,
    synthetic_only_recipe,
)
from augment.evaluation.results import (
    Block,
    BlockScores,
    Dataset,
    EvaluationResult,
    ModelRecord,
    Privacy,
    Scores,
    TableFidelity,
)
from augment.evaluation.stats import METRICS
from augment.evaluation.verdict import build_verdicts
from augment.log import logger
from augment.tabular.bundle import TabularBundle
from augment.tabular.evaluation.classifiers import (
    CLASSIFIERS,
    FitScores,
    FitTask,
    check_params,
    encode_labels,
    fit_and_score,
)
from augment.tabular.evaluation.curation import curate_rows, describe_judge, fit_judge
from augment.tabular.evaluation.fidelity import quality_report
from augment.tabular.evaluation.privacy import dcr_report
from augment.tabular.evaluation.recipes import (
    BALANCED,
    BALANCED_CURATED,
    SMOTE,
    SMOTE_CURATED_PREFIX,
    THRESHOLD,
    SyntheticPool,
    balanced_recipe,
    balancing_labels,
    mix,
    smote_curated_name,
    smote_curated_recipe,
    smote_oversample,
    smote_recipe,
    stratified_subset,
    threshold_recipe,
)
from augment.tabular.schema import TableSchema

PRIMARY_METRIC = "macro_f1"
SWEEP_RETRAIN = ("fraction", "seed")


def evaluate_tabular(
    bundle: TabularBundle | str | Path,
    model_dir: str | Path | None = None,
    *,
    ratios: Sequence[float] = (0.25, 0.5, 1.0, 2.0),
    fractions: Sequence[float] = (0.02, 0.1, 1.0),
    seeds: int = 5,
    classifiers: Sequence[str] = ("hgb", "logreg"),
    smote: bool = True,
    tune_threshold: bool = True,
    balance: bool = True,
    max_rows: int | None = None,
    fidelity_rows: int | None = 20_000,
    privacy_rows: int = 2_000,
    sweep_seeds: int | None = None,
    sweep_retrain: str = "seed",
    sweep_hyperparameters: dict[str, Any] | None = None,
    min_rows_per_class: int = 5,
    classifier_params: dict[str, dict[str, Any]] | None = None,
    synthetic_weight: Sequence[float] = (1.0,),
    curate: bool = False,
    curate_threshold: float = 0.5,
    n_threads: int | None = 1,
    jobs: int | None = None,
    backend: str = "loky",
    scheduler: str | None = None,
    device: str = "auto",
    progress: bool = True,
    seed: int = 0,
    synthesizer: GenerativeModel | None = None,
    factory: SynthesizerFactory | None = None,
) -> EvaluationResult:
    """Train downstream classifiers on every recipe, score them on real test data, and report
    paired gains over real-only with 95% intervals, plus fidelity and privacy.

    ``model_dir`` is a trained model directory: its synthesizer serves fraction 1.0 and its
    ``config.json`` (model name and hyper-parameters, with ``sweep_hyperparameters`` merged over
    them, e.g. a shorter training budget) builds the synthesizers retrained in the low-data sweep.
    A Python caller may pass ``synthesizer`` (fitted on the training split) and ``factory``
    instead. ``n_threads`` caps the OpenMP/BLAS threads of the classifiers and SMOTE (None: the
    libraries' default): on a shared 2-core machine, HistGradientBoosting's OpenMP threads
    spin-waiting on a busy core turned a 1 s fit into 70 s, while one thread is never more than
    about twice as slow.

    The classifier fits run side by side (:mod:`augment.evaluation.parallel`): ``jobs`` joblib
    workers (None: the cores this process may use; 1: one after the other in this process) of
    ``backend`` (``loky`` processes or ``threading``), or the workers of the Dask cluster at
    ``scheduler`` with ``backend="dask"``. The synthesizers retrained for the sweep fan out the
    same way, with one thread each (in this process, one after the other, on a GPU). Synthetic
    draws, SMOTE and the recipes' rows are built here; the numbers are the same whatever the
    backend and job count.

    ``synthetic_weight`` lists the weights a synthetic row has in the classifiers' loss; every
    real + synthetic recipe runs once per weight (1 always). ``curate`` adds real + curated
    synthetic rows at the sweep ratio, judged by a classifier fitted on each block's real rows
    with threshold ``curate_threshold``.

    ``max_rows`` caps the real rows read from each split: a seeded uniform sample of at most
    that many (None: every row of a table that fits in memory, and
    :data:`~augment.tabular.bundle.STREAMED_SAMPLE_ROWS` of a streamed one, whose splits are
    never loaded whole). The classifiers then train on, and are scored on, those samples, the
    sweep's fractions are fractions of the training sample, and the result's
    ``dataset.sampled_from`` gives the sizes of the splits sampled. Returns the typed result;
    :func:`~augment.tabular.evaluation.report.write_evaluation` writes the metrics, plot data
    and summary.
    """
    started = time.perf_counter()
    if not isinstance(bundle, TabularBundle):
        bundle = TabularBundle.load(bundle)
    schema = bundle.schema
    ratios = check_ratios(ratios)
    fractions = _check_fractions(fractions)
    classifiers = _check_classifiers(classifiers)
    check_params(classifier_params or {})
    if seeds < 1:
        raise AugmentError(f"seeds must be at least 1, got {seeds}")
    if sweep_retrain not in SWEEP_RETRAIN:
        raise AugmentError(f"sweep_retrain must be one of {', '.join(SWEEP_RETRAIN)}")
    n_sweep = int(sweep_seeds or seeds)
    fanout = FanOut.of(jobs, backend, scheduler)
    weights = check_weights([1.0, *check_weights(synthetic_weight)])
    threshold = check_threshold(curate_threshold)
    mix_at = 1.0 if 1.0 in ratios else float(min(ratios))  # the sweep ratio

    # A streamed table's splits may not fit in memory: each is read as a seeded sample.
    read = {name: bundle.rows(name, max_rows, derive_seed(seed, "rows")) for name in SPLITS}
    sampled_from = {
        name: total
        for name, frame in read.items()
        if len(frame) < (total := bundle.split_rows(name))
    }
    train = read["train"].reset_index(drop=True)
    test = _known_labels(read["test"], schema)
    y_test = encode_labels(test[schema.label], schema)
    validation = _known_labels(read["validation"], schema)
    if validation.empty:
        raise AugmentError(
            f"{bundle.path}: the validation split has no rows with a known class; the "
            "evaluation chooses its mix there (ingest with validation_size > 0)"
        )
    counts = train[schema.label].value_counts()
    minority = counts.idxmin()
    minority_index = int(schema.classes.index(minority))

    sweep = [f for f in fractions if f < 1]
    synthesizer, factory = synthesizers_for(
        model_dir, synthesizer, factory, bool(sweep), device, sweep_hyperparameters
    )

    mixes = [(r, w, False) for r in ratios for w in weights]
    mixes += [(mix_at, w, True) for w in weights] if curate else []
    balanced = [BALANCED] if balance else []
    balanced += [BALANCED_CURATED] if balance and curate else []
    recipes = [REAL, *(synth_recipe(r, w, curated=c) for r, w, c in mixes), *balanced, SYNTH]
    recipes += [SMOTE] if smote else []
    recipes += [THRESHOLD] if tune_threshold else []
    recipes += [smote_curated_name(mix_at)] if smote and curate else []
    # "real+threshold" is real only's fit, scored with a tuned threshold: no fit of its own.
    per_block = len(_fitted(recipes)) * len(classifiers)
    total = per_block * (seeds + n_sweep * len(sweep))
    timer = StageTimer()
    bar = fit_bar(total, progress)
    ctx = _Context(
        schema=schema,
        test=test,
        y_test=y_test,
        validation=validation,
        y_validation=encode_labels(validation[schema.label], schema),
        minority=minority_index,
        classifiers=classifiers,
        ratios=ratios,
        smote=smote,
        recipes=recipes,
        seed=seed,
        params=classifier_params or {},
        bar=bar,
        timer=timer,
        fanout=fanout,
        threads=n_threads,
        curate_ratio=mix_at if curate else None,
        threshold=threshold,
    )
    blocks: list[Block] = []
    logger.info("fitting %d classifiers in %s", total, fanout.describe())
    try:
        n_fits = 1 if sweep_retrain == "fraction" else n_sweep
        fractions_swept = sorted(sweep, reverse=True)
        retrains = []  # per fraction: (subset, schema, fit seed) per seed
        for fraction in fractions_swept:
            fits = []
            for s in range(n_fits):
                rng = np.random.default_rng(derive_seed(seed, "subset", fraction, s))
                subset = stratified_subset(train, schema.label, fraction, rng, min_rows_per_class)
                fits.append((subset, schema, derive_seed(seed, "fit", fraction, s)))
            retrains.append(fits)
        sweep_models = SweepRetrains(factory, retrains, device)
        bar.set_postfix_str(f"100% real{sweep_models.note()}")
        with ctx.limits():
            scores, first_pool, retrained = _run_block(
                ctx, 1.0, [train] * seeds, [synthesizer] * seeds, ahead=sweep_models.tasks()
            )
        blocks.append(_block(1.0, len(train), "trained model", scores))
        fitted = sweep_models.models(retrained, timer, bar)
        for fraction, fits, synths in zip(fractions_swept, retrains, fitted, strict=True):
            subsets = [subset for subset, _, _ in fits]
            if sweep_retrain == "fraction":
                subsets, synths = subsets * n_sweep, synths * n_sweep
            bar.set_postfix_str(f"{fraction:.0%} real")
            with ctx.limits():
                scores, _, _ = _run_block(ctx, fraction, subsets, synths)
            rows = int(np.mean([len(s) for s in subsets]))
            blocks.append(_block(fraction, rows, f"retrained per {sweep_retrain}", scores))
    finally:
        bar.close()

    with timer("fidelity"):
        n_fid = len(train) if fidelity_rows is None else min(fidelity_rows, len(train))
        rng = np.random.default_rng(derive_seed(seed, "fidelity"))
        real_f = train.iloc[np.sort(rng.choice(len(train), n_fid, replace=False))]
        fidelity = TableFidelity.from_dict(quality_report(real_f, first_pool.take(n_fid), schema))
    with timer("privacy"):
        synth_p = first_pool.take(min(privacy_rows, len(train)))
        privacy = Privacy.from_dict(
            dcr_report(
                train,
                read["validation"],
                synth_p,
                schema,
                max_rows=privacy_rows,
                seed=derive_seed(seed, "privacy"),
                device=device,
            )
        )

    smote_baseline = smote_recipe(schema) if smote else None
    result = EvaluationResult(
        modality=TABULAR,
        dataset=Dataset(
            path=str(bundle.path),
            classes=list(schema.classes),
            unit="rows",
            train=len(train),
            validation=len(read["validation"]),
            test=len(test),
            label=schema.label,
            minority_class=minority,
            sampled_from=sampled_from or None,
        ),
        model=ModelRecord.of(synthesizer, model_dir),
        settings={
            "ratios": list(ratios),
            "fractions": list(fractions),
            "seeds": seeds,
            "sweep_seeds": n_sweep if sweep else 0,
            "sweep_retrain": sweep_retrain,
            "sweep_hyperparameters": sweep_hyperparameters or {},
            "classifiers": list(classifiers),
            "classifier_params": classifier_params or {},
            "smote": smote,
            "tune_threshold": tune_threshold,
            "balance": balance,
            "synthetic_weight": weights,
            "curate": bool(curate),
            "curate_threshold": threshold,
            **({"curation": _curation_settings(ctx)} if curate else {}),
            "n_threads": n_threads,
            "max_rows": max_rows,
            "fidelity_rows": n_fid,
            "privacy_rows": privacy_rows,
            "min_rows_per_class": min_rows_per_class,
            "seed": seed,
            "ci_level": 0.95,
        },
        metrics=list(METRICS),
        primary_metric=PRIMARY_METRIC,
        classifiers=list(classifiers),
        recipes=[
            real_recipe("rows"),
            *(mix_recipe(r, "rows", w, curated=c) for r, w, c in mixes),
            *(balanced_recipe(curated=name == BALANCED_CURATED) for name in balanced),
            synthetic_only_recipe("rows"),
            *([smote_baseline] if smote_baseline else []),
            *([threshold_recipe()] if tune_threshold else []),
            *([smote_curated_recipe(schema, mix_at)] if smote and curate else []),
        ],
        blocks=blocks,
        fidelity=fidelity,
        privacy=privacy,
        sweep_ratio=1.0 if 1.0 in ratios else float(min(ratios)),
        interval_covers=_interval_covers(smote, bool(sweep), sweep_retrain),
        timings={**timer.totals, "total_s": round(time.perf_counter() - started, 2)},
    )
    result.verdicts = build_verdicts(result)
    logger.info("%s", result.verdict)
    if result.low_data_verdict is not None:
        logger.info("%s", result.low_data_verdict)
    logger.info(
        "evaluated %d classifier fits in %.0f s; fidelity %.3f, DCR share closer to train %.2f",
        total,
        result.timings["total_s"],
        fidelity.overall,
        privacy.dcr_share_closer_to_train,
    )
    return result


# -- one block: one real-data fraction, all seeds ---------------------------------------------
@dataclass
class _Context:
    """What every block shares: the schema, the real test split, the recipe settings, and where
    the classifier fits run."""

    schema: TableSchema
    test: pd.DataFrame
    y_test: np.ndarray
    validation: pd.DataFrame
    y_validation: np.ndarray
    minority: int
    classifiers: list[str]
    ratios: list[float]
    smote: bool
    recipes: list[str]
    seed: int
    params: dict[str, dict[str, Any]]
    bar: Any
    timer: StageTimer
    fanout: FanOut = FanOut()
    threads: int | None = 1
    curate_ratio: float | None = None  # the ratio of the curated recipes; None: no curation
    threshold: float = 0.5
    curation: dict[str, CurationReport] = field(default_factory=dict)  # per block key

    def limits(self) -> contextlib.AbstractContextManager[Any]:
        return threadpool_limits(limits=self.threads) if self.threads else contextlib.nullcontext()


def _run_block(
    ctx: _Context,
    fraction: float,
    subsets: list[pd.DataFrame],
    synths: list[GenerativeModel],
    ahead: Sequence[Task] = (),
) -> tuple[BlockScores, SyntheticPool, list[Any]]:
    """Scores of every recipe and classifier for each seed (seed ``s`` trains on ``subsets[s]``
    and draws from ``synths[s]``) on test and validation, the first seed's synthetic pool, and
    the results of the ``ahead`` tasks (the sweep's retrains), run in the same fan-out first.

    Synthetic draws, SMOTE and the recipes' rows are built in this process, lazily (joblib asks
    for the next fits as workers free up); the fits run where ``ctx.fanout`` says."""
    max_ratio = max([*ctx.ratios, 1.0])
    first_pool: list[SyntheticPool] = []
    judges: dict[int, Any] = {}  # the curation classifier per real subset (by identity)
    curated_pools: list[SyntheticPool] = []
    curated_balancing: list[pd.DataFrame] = []
    if ctx.curate_ratio is not None:
        # Judges and curated rows are made here, before the fan-out starts: made lazily inside
        # joblib's dispatch of a loky pool, they left the pool's executor shut down ('NoneType'
        # has no attribute 'submit'), while --jobs 1 ran. One pool per seed is held meanwhile.
        for real in subsets:
            if id(real) not in judges:
                seed = derive_seed(ctx.seed, "curation-judge", fraction, len(judges))
                with ctx.timer("curation"), ctx.limits():
                    judges[id(real)] = fit_judge(real, ctx.schema, seed=seed)
        with ctx.timer("curation"), ctx.limits():
            curated_pools += [
                _curated_pool(ctx, fraction, s, real, synth, judges)
                for s, (real, synth) in enumerate(zip(subsets, synths, strict=True))
            ]
            if BALANCED_CURATED in ctx.recipes:
                curated_balancing += [
                    _balancing_rows(ctx, fraction, s, real, synth, judges[id(real)])
                    for s, (real, synth) in enumerate(zip(subsets, synths, strict=True))
                ]
    fitted = _fitted(ctx.recipes)
    order = [(recipe, name) for _ in subsets for recipe in fitted for name in ctx.classifiers]

    def fits() -> Iterator[tuple[Any, ...]]:
        # May run in one of joblib's threads: thread limits are set here, around the work only.
        for s, (real, synth) in enumerate(zip(subsets, synths, strict=True)):
            with ctx.timer("sampling"), ctx.limits():
                pool = SyntheticPool(
                    synth,
                    real,
                    ctx.schema,
                    int(math.ceil(max_ratio * len(real))),
                    seed=derive_seed(ctx.seed, "sample", fraction, s),
                )
            if s == 0:
                first_pool.append(pool)
            curated = curated_pools[s] if ctx.curate_ratio is not None else None
            clf_seed = derive_seed(ctx.seed, "classifier", s)
            smote_seed = derive_seed(ctx.seed, "smote", fraction, s)
            # The seed's SMOTE rows and balancing rows, each built once for the recipes using them.
            seed_rows: dict[str, pd.DataFrame] = {}
            if BALANCED in ctx.recipes:
                with ctx.timer("sampling"), ctx.limits():
                    seed_rows[BALANCED] = _balancing_rows(ctx, fraction, s, real, synth)
            if curated_balancing:
                seed_rows[BALANCED_CURATED] = curated_balancing[s]
            for recipe in fitted:
                with ctx.limits():
                    data = _recipe_data(ctx, recipe, real, pool, smote_seed, curated, seed_rows)
                weight = parsed.weight if (parsed := parse_mix(recipe)) else 1.0
                for name in ctx.classifiers:
                    fit = FitTask(
                        name, clf_seed, ctx.params.get(name), ctx.schema, ctx.minority,
                        synthetic_weight=weight, n_real=len(real),
                        tune_threshold=recipe == REAL and THRESHOLD in ctx.recipes,
                    )  # fmt: skip
                    yield fit, data, ctx.test, ctx.y_test, ctx.validation, ctx.y_validation

    def arrived(result: Any) -> None:
        if isinstance(result, FitScores):  # the bar counts classifier fits, not retrains
            ctx.bar.update(1)

    results = run_fits(
        fit_and_score, fits(), ctx.fanout, threads=ctx.threads, on_result=arrived, ahead=ahead
    )
    ahead_results, results = results[: len(ahead)], results[len(ahead) :]
    scores: Scores = {}
    validation: Scores = {}
    for split in (scores, validation):  # in the recipes' order, whichever fit scored them
        for recipe in ctx.recipes:
            split[recipe] = {name: {m: [] for m in METRICS} for name in ctx.classifiers}
    for (recipe, name), got in zip(order, results, strict=True):
        ctx.timer.add("classifiers", got.seconds)
        scored = [(recipe, got)] + ([(THRESHOLD, got.tuned)] if got.tuned else [])
        for recipe_scored, fit in scored:
            for split, values in ((scores, fit.test), (validation, fit.validation)):
                for m in METRICS:
                    split[recipe_scored][name][m].append(values[m])
    if ctx.curate_ratio is not None and ctx.curation[_key(fraction)].short:
        logger.warning(
            "%s real: %s", _percent(fraction), shortfall_line(ctx.curation[_key(fraction)])
        )
    return BlockScores(scores, validation), first_pool[0], ahead_results


def _curated_pool(
    ctx: _Context,
    fraction: float,
    s: int,
    real: pd.DataFrame,
    synth: GenerativeModel,
    judges: dict[int, Any],
) -> SyntheticPool:
    """Seed ``s``'s curated synthetic rows, as many as the curated recipes need. The judge is
    fitted on this block's real rows (the same subset serves every seed unless the sweep
    retrains per seed) and nothing else: never a test row."""
    assert ctx.curate_ratio is not None
    judge = judges[id(real)]  # fitted by _run_block on this block's real rows
    report = ctx.curation.setdefault(
        _key(fraction),
        CurationReport(ctx.threshold, describe_judge().replace("split", "rows of the block")),
    )

    def curator(labels: np.ndarray, seed: int) -> Any:
        got = curate_rows(synth, judge, labels, seed=seed, threshold=ctx.threshold, warn=False)
        report.add(got.report)
        return got

    return SyntheticPool(
        synth,
        real,
        ctx.schema,
        int(math.ceil(ctx.curate_ratio * len(real))),
        seed=derive_seed(ctx.seed, "curated", fraction, s),
        curator=curator,
    )


def _balancing_rows(
    ctx: _Context,
    fraction: float,
    s: int,
    real: pd.DataFrame,
    synth: GenerativeModel,
    judge: Any = None,
) -> pd.DataFrame:
    """Seed ``s``'s synthetic rows that bring every class of ``real`` up to the majority's
    count; with ``judge``, only those it trusts (curation, as for the curated pool)."""
    labels = balancing_labels(real[ctx.schema.label], ctx.schema.classes)
    if not len(labels):
        return real.iloc[:0]
    if judge is not None:
        codes = pd.Index(ctx.schema.classes).get_indexer(labels)
        seed = derive_seed(ctx.seed, "balance-curated", fraction, s)
        got = curate_rows(synth, judge, codes, seed=seed, threshold=ctx.threshold, warn=False)
        return got.samples[ctx.schema.names]
    rows = synth.sample(labels, seed=derive_seed(ctx.seed, "balance", fraction, s))
    if len(rows) != len(labels):
        raise AugmentError(f"synthesizer returned {len(rows)} rows for {len(labels)} requested")
    return rows[ctx.schema.names].reset_index(drop=True)


def _curation_settings(ctx: _Context) -> dict[str, Any]:
    """Per block, what curation asked, drew and kept over all seeds."""
    return {key: report.to_dict() for key, report in ctx.curation.items()}


def _block(fraction: float, rows: int, synthesizer: str, scores: BlockScores) -> Block:
    share = _percent(fraction)
    return Block(
        key=_key(fraction),
        label=share,
        description=f"{share} of the real rows",
        size=rows,
        fraction=fraction,
        full=fraction == 1,
        synthesizer=synthesizer,
        scores=scores.test,
        validation=scores.validation,
    )


def _interval_covers(smote: bool, sweep: bool, sweep_retrain: str) -> str:
    varies = "the classifier's random_state" + (
        ", which synthetic rows are drawn and the SMOTE draw"
        if smote
        else " and which synthetic rows are drawn"
    )
    if not sweep:
        return varies
    if sweep_retrain == "seed":
        return varies + " (in the low-data sweep also which real rows were kept)"
    return (
        varies + " (not which real rows the low-data sweep kept: one subset and one "
        "synthesizer per fraction)"
    )


def _recipe_data(
    ctx: _Context,
    recipe: str,
    real: pd.DataFrame,
    pool: SyntheticPool,
    smote_seed: int,
    curated: SyntheticPool | None = None,
    seed_rows: dict[str, pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """The training rows of one recipe (never any test row): real rows first. ``seed_rows``
    holds the seed's balancing rows and keeps its SMOTE rows for the recipes that share them."""
    if recipe in (REAL, THRESHOLD):
        return real
    if recipe in (BALANCED, BALANCED_CURATED):
        if seed_rows is None or recipe not in seed_rows:
            raise AugmentError(f"recipe {recipe!r} needs its balancing rows")
        return mix(real, seed_rows[recipe])
    if recipe == SYNTH:
        return pool.take(len(real))
    if recipe == SMOTE or recipe.startswith(SMOTE_CURATED_PREFIX):
        seed_rows = {} if seed_rows is None else seed_rows
        if SMOTE not in seed_rows:
            with ctx.timer("smote"):
                seed_rows[SMOTE] = smote_oversample(real, ctx.schema, seed=smote_seed)
        if recipe == SMOTE:
            return seed_rows[SMOTE]
        if curated is None:
            raise AugmentError(f"recipe {recipe!r} needs curated synthetic rows")
        ratio = float(recipe[len(SMOTE_CURATED_PREFIX) :])
        return mix(seed_rows[SMOTE], curated.take(round(ratio * len(real))))
    parsed = parse_mix(recipe)
    if parsed is None:
        raise AugmentError(f"unknown recipe {recipe!r}")
    source = pool
    if parsed.curated:
        if curated is None:
            raise AugmentError(f"recipe {recipe!r} needs curated synthetic rows")
        source = curated
    return mix(real, source.take(round(parsed.ratio * len(real))))


# -- small helpers -------------------------------------------------------------------------------
def _fitted(recipes: Sequence[str]) -> list[str]:
    """The recipes that train a classifier of their own: all but ``THRESHOLD``, which
    :func:`fit_and_score` scores from real only's fit (``FitTask.tune_threshold``)."""
    return [recipe for recipe in recipes if recipe != THRESHOLD]


def _key(fraction: float) -> str:
    return f"{float(fraction):g}" if fraction != 1 else "1.0"


def _percent(fraction: float) -> str:
    return f"{fraction:.0%}" if fraction >= 0.01 else f"{fraction:.1%}"


def _known_labels(frame: pd.DataFrame, schema: TableSchema) -> pd.DataFrame:
    codes = encode_labels(frame[schema.label], schema)
    unknown = int((codes < 0).sum())
    if unknown:
        logger.warning("test split: ignoring %d rows whose label is not in the schema", unknown)
        frame = frame.loc[codes >= 0]
    return frame.reset_index(drop=True)


def _check_fractions(fractions: Sequence[float]) -> list[float]:
    out = sorted({float(f) for f in fractions} | {1.0})
    if out[0] <= 0 or out[-1] > 1:
        raise AugmentError(f"real-data fractions must be in (0, 1], got {list(fractions)}")
    return out


def _check_classifiers(classifiers: Sequence[str]) -> list[str]:
    out = list(dict.fromkeys(classifiers))
    bad = [c for c in out if c not in CLASSIFIERS]
    if not out or bad:
        raise AugmentError(f"unknown classifier(s) {bad}: use {', '.join(CLASSIFIERS)}")
    return out
