"""evaluate's curated and weighted recipes, tables and images: what they are called, that the
curation judge of each block sees only that block's real training data, and that the reports
show ratio and weight."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_evaluation import Bootstrap, bootstrap_factory, bundle  # noqa: F401

from augment.evaluation.recipes import MIX, Recipe
from augment.evaluation.results import EvaluationResult
from augment.evaluation.summary import summary_markdown
from augment.tabular.evaluation import runner as table_runner
from augment.tabular.evaluation.report import write_evaluation
from augment.tabular.evaluation.runner import evaluate_tabular


@pytest.fixture(scope="module")
def judged():
    return []


@pytest.fixture(scope="module")
def curated_result(bundle, judged):  # noqa: F811
    fit = table_runner.fit_judge
    mp = pytest.MonkeyPatch()
    mp.setattr(
        table_runner,
        "fit_judge",
        lambda real, schema, seed: judged.append(real) or fit(real, schema, seed=seed),
    )
    synth = Bootstrap()
    synth.fit(bundle.train, bundle.schema)
    try:
        yield evaluate_tabular(
            bundle,
            ratios=(0.5, 1.0),
            fractions=(0.4, 1.0),
            seeds=2,
            classifiers=("logreg",),
            fidelity_rows=60,
            privacy_rows=30,
            progress=False,
            synthesizer=synth,
            factory=bootstrap_factory,
            synthetic_weight=[0.5],
            curate=True,
            curate_threshold=0.6,
            jobs=2,  # loky workers: curation made inside joblib's dispatch broke the pool
        )
    finally:
        mp.undo()


def test_table_recipes_per_weight_and_curated_at_the_sweep_ratio(curated_result):
    names = [r.name for r in curated_result.recipes if r.role == MIX]
    assert names == [
        "real+synth@0.5", "real+synth@0.5w0.5", "real+synth@1.0", "real+synth@1.0w0.5",
        "real+curated@1.0", "real+curated@1.0w0.5", "real+balanced", "real+balanced+curated",
    ]  # fmt: skip
    labels = {r.name: r.label for r in curated_result.recipes}
    assert labels["real+synth@1.0w0.5"] == "real + 1× synthetic (weight 0.5)"
    # SMOTE-NC and curated rows together: quoted beside the verdict, like SMOTE-NC alone.
    assert labels["real+smote+curated@1.0"] == "real + SMOTE-NC + 1× curated synthetic"
    assert "real + SMOTE-NC + 1× curated synthetic: " in curated_result.verdict.text
    assert labels["real+curated@1.0"] == "real + 1× curated synthetic"
    assert labels["real+balanced+curated"] == "real + curated synthetic to balance"
    for block in curated_result.blocks:
        assert {"real+curated@1.0", "real+curated@1.0w0.5"} <= set(block.recipes)
        counts = curated_result.settings["curation"][block.key]["per_class"]
        assert all(n["kept"] <= n["asked"] <= n["drawn"] for n in counts.values())
    assert curated_result.settings["synthetic_weight"] == [1.0, 0.5]


def test_the_judge_of_each_block_sees_that_block_s_real_rows_only(curated_result, bundle, judged):  # noqa: F811
    # One per real training set: the full split, and each seed's 40% subset of the sweep.
    assert len(judged) == 1 + 2
    assert len(judged[0]) == len(bundle.train)
    assert all(len(frame) < len(bundle.train) for frame in judged[1:])
    train = set(map(tuple, bundle.train.astype(str).to_numpy()))
    test = set(map(tuple, bundle.test.astype(str).to_numpy())) - train
    for frame in judged:
        rows = set(map(tuple, frame.astype(str).to_numpy()))
        assert rows <= train and not rows & test


def test_weights_and_curation_reach_the_reports_and_read_back(curated_result, tmp_path):
    paths = write_evaluation(
        curated_result,
        metrics=tmp_path / "m.json",
        plots=tmp_path / "plots",
        summary=tmp_path / "s.md",
    )
    back = EvaluationResult.from_dict(json.loads(paths["metrics"].read_text()))
    assert back.recipe("real+curated@1.0w0.5") == curated_result.recipe("real+curated@1.0w0.5")
    assert back.recipe("real+curated@1.0w0.5").weight == 0.5
    text = summary_markdown(back)
    # The tables name each recipe (ratio and weight in the name); the legend says what it is.
    assert "| real+curated@1.0w0.5 |" in text and "| real+synth@0.5w0.5 |" in text
    assert "`real+curated@rw0.5` (real plus r × as many curated synthetic rows" in text
    assert "each synthetic one weighs 0.5 in the loss" in text
    assert "## Curation (kept where p(class) >= 0.6; judge: hgb" in text
    assert "| 40% | a |" in text  # per block and class: asked, drawn, kept
    ratio = pd.read_csv(paths["gain_vs_ratio"])
    assert ratio["ratio"].tolist() == [0.5, 1.0]  # the plain ratio curve, weight 1

    from augment.reporting.html import _gain_figures, render_report

    page = render_report(metrics=paths["metrics"], data=curated_result.dataset.path)
    assert "real+curated@1.0w0.5" in page
    assert len(_gain_figures(curated_result)) == 2  # the ratio curve and the sweep, both drawn


def test_results_written_before_weights_read_as_weight_one_uncurated():
    old = {"name": "real+synth@1.0", "label": "real + 1× synthetic", "role": "mix", "ratio": 1.0}
    recipe = Recipe.from_dict(old)
    assert (recipe.weight, recipe.curated, recipe.plain) == (1.0, False, True)
    assert np.isclose(Recipe.from_dict({**old, "weight": 0.5}).weight, 0.5)


# -- images ----------------------------------------------------------------------------------------
def test_image_recipes_curated_and_weighted_and_the_judge_sees_no_test_image(
    tmp_path, tmp_path_factory
):
    import test_image_evaluation as tie

    from augment.images.evaluation import curation as image_curation
    from augment.images.evaluation.report import write_image_evaluation
    from augment.images.evaluation.runner import evaluate_images

    prepared = tie.bundle.__wrapped__(tmp_path_factory)
    judged = []
    train = image_curation.train_classifier

    def spy(images, labels, **kwargs):
        judged.append(images.cpu().numpy().copy())
        return train(images, labels, **{**kwargs, "steps": 10})

    synth = tie.PatternSynth()
    synth.fit(prepared.train, prepared.schema)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(image_curation, "train_classifier", spy)
        result = evaluate_images(
            prepared, ratios=(1.0,), per_class=(5,), seeds=1, progress=False, synthesizer=synth,
            factory=tie.pattern_factory, jobs=1, synthetic_weight=[0.0], curate=True,
            curate_threshold=0.4, **tie.FAST,
        )  # fmt: skip
    assert result.full.recipes == [
        "real", "real+classic", "real+synth@1.0", "real+synth@1.0w0.0", "real+curated@1.0",
        "real+curated@1.0w0.0", "real+classic+synth@1.0", "real+classic+curated@1.0",
        "real+classic+pretrained", "synth",
    ]  # fmt: skip
    assert "real+curated@1.0w0.0" in result.sweep[0].recipes
    labels = {r.name: r.label for r in result.recipes}
    assert labels["real+classic+curated@1.0"] == "real + classic + 1× curated synthetic"
    assert labels["real+synth@1.0w0.0"] == "real + 1× synthetic (weight 0)"
    # One judge per block, each on that block's real training images, never a test image.
    assert [len(j) for j in judged] == [len(prepared.train), 15]
    test_images = {img.tobytes() for img in prepared.test.images}
    train_images = {img.tobytes() for img in prepared.train.images}
    for images in judged:
        assert all(i.tobytes() in train_images and i.tobytes() not in test_images for i in images)
    assert set(result.settings["curation"]) == {"all", "5"}
    write_image_evaluation(
        result, metrics=tmp_path / "m.json", plots=tmp_path / "p", summary=tmp_path / "s.md"
    )
    back = EvaluationResult.from_dict(json.loads((tmp_path / "m.json").read_text()))
    assert back.recipe("real+classic+curated@1.0").curated
