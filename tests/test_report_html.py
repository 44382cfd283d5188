"""``augment report``: the self-contained HTML page of an evaluation, for tables and images.

Inputs are built here in the shape ``augment evaluate`` and ``augment generate`` write them (a
prepared table or image set, metrics JSON, plot CSVs, the Markdown summary, a synthetic set), so
no GAN is trained. The last test opens the page in headless Chromium when one is installed.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from augment.errors import AugmentError
from augment.images.bundle import ImageSplit, write_image_bundle
from augment.images.schema import ImageSchema
from augment.images.writer import ImageFolderWriter
from augment.reporting.figures import (
    association_matrix,
    category_frequencies,
    column_distributions,
)
from augment.reporting.html import render_report, write_report
from augment.reporting.markdown import markdown_html
from augment.tabular.schema import ColumnSpec, TableSchema

EVIL = "<script>alert('x')</script>"
TABLE_VERDICT = (
    "no significant gain: real + 0.5× synthetic: macro-F1 +0.004 [-0.010, +0.018] vs real only "
    "(hgb, 95% CI, 3 seeds, best of 2 ratios); SMOTE-NC: -0.002 [-0.011, +0.006]"
)
IMAGE_VERDICT = (
    "synthetic images help: real + 1× synthetic: macro-F1 +0.031 [+0.012, +0.050] vs real only "
    "(cnn, 95% CI, 3 seeds, best of 2 ratios); classic augmentation: +0.020 [+0.001, +0.039]; "
    "classic + 1× synthetic: +0.040 [+0.020, +0.060]"
)


# -- inputs: a table ------------------------------------------------------------------------------
def _ci(mean: float, half: float = 0.014) -> dict[str, float | None]:
    return {"mean": mean, "low": mean - half, "high": mean + half}


def _table_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    label = np.where(rng.random(n) < 0.7, "no", "yes")
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "income": np.round(rng.lognormal(10, 0.5, n), 2),
            "city": rng.choice(["Oslo", "Lima", "Pune", EVIL], n).astype(object),
            "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
            "<b>odd</b> & name": rng.normal(0, 1, n),
            "label": label,
        }
    )
    frame.loc[::17, "income"] = np.nan
    frame.loc[::23, "city"] = None
    return frame


def _table_schema(train: pd.DataFrame) -> TableSchema:
    counts = train["label"].value_counts()
    return TableSchema(
        label="label",
        columns=[
            ColumnSpec("age", "continuous", "int64", min=18, max=79, integer=True),
            ColumnSpec("income", "continuous", "float64", missing_fraction=0.06),
            ColumnSpec("city", "categorical", "object", 0.04, ["Oslo", "Lima", "Pune", EVIL]),
            ColumnSpec("joined", "datetime", "datetime64[ns]"),
            ColumnSpec("<b>odd</b> & name", "continuous", "float64"),
            ColumnSpec("label", "categorical", "object", categories=["no", "yes"]),
        ],
        classes=["no", "yes"],
        class_counts=[int(counts.get("no", 0)), int(counts.get("yes", 0))],
        splits={"train": len(train)},
    )


def _table_metrics(low_data: bool = True) -> dict[str, Any]:
    def per(mean: float) -> dict[str, Any]:
        return {"hgb": {"macro_f1": _ci(mean)}, "logreg": {"macro_f1": _ci(mean - 0.01)}}

    metrics: dict[str, Any] = {
        "primary_metric": "macro_f1",
        "seeds": 3,
        "real": {
            "hgb": {"accuracy": 0.87, "macro_f1": 0.81, "roc_auc": 0.93, "minority_recall": 0.65},
            "logreg": {"accuracy": 0.85, "macro_f1": 0.78, "roc_auc": 0.9, "minority_recall": 0.6},
        },
        "gain": {
            "real+synth@0.5": per(0.004),
            "real+synth@1.0": per(-0.02),
            "synth": per(-0.3),
            "real+smote": per(-0.002),
        },
        "fidelity": {"overall": 0.81, "column_shapes": 0.9, "column_pair_trends": 0.72},
        "privacy": {
            "dcr_share_closer_to_train": 0.53,
            "median_dcr_synth_train": 0.12,
            "median_dcr_holdout_train": 0.07,
            "exact_copies": 0.0,
        },
    }
    if low_data:
        metrics["low_data"] = {
            "0.1": {
                "rows": 30,
                "real": {"hgb": 0.7, "logreg": 0.69},
                "gain": {
                    k: {c: v["macro_f1"] for c, v in per(0.03).items()}
                    for k in ("real+synth@0.5", "real+synth@1.0", "synth", "real+smote")
                },
            }
        }
    return metrics


TABLE_RATIO_CSV = """ratio,hgb,hgb_low,hgb_high,logreg,logreg_low,logreg_high
0.5,0.004,-0.01,0.018,-0.006,-0.02,0.008
1,-0.02,-0.034,-0.006,-0.03,-0.044,-0.016
"""
TABLE_FRACTION_CSV = """fraction,hgb,hgb_low,hgb_high,logreg,logreg_low,logreg_high,\
hgb_smote,hgb_smote_low,hgb_smote_high,logreg_smote,logreg_smote_low,logreg_smote_high
0.1,0.03,0.016,0.044,0.02,,,0.01,-0.01,0.03,0.0,-0.02,0.02
1,-0.02,-0.034,-0.006,-0.03,-0.044,-0.016,-0.002,-0.011,0.006,-0.004,-0.01,0.002
"""


def _summary(verdict: str, low: str, extra: str = "") -> str:
    return (
        f"{verdict}\n\nWhere real data is scarce: {low}.\n\n# Does synthetic data help? tabgan on "
        "d\n\nRecipes: `real+synth@r` and *emphasis*.\n\n## Scores\n\n| recipe | macro-F1 |\n"
        f"|---|---|\n| real | 0.8100 |\n| real+synth@0.5 | 0.8141 * |\n\n- a note {extra}\n"
    )


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("table_report")
    rng = np.random.default_rng(0)
    data = root / "data"
    data.mkdir()
    splits = {name: _table_frame(n, rng) for name, n in (("train", 300), ("validation", 60),
                                                         ("test", 90))}  # fmt: skip
    for name, frame in splits.items():
        frame.to_parquet(data / f"{name}.parquet", index=False)
    _table_schema(splits["train"]).save(data / "schema.json")

    synth = root / "synth"
    synth.mkdir()
    fake = _table_frame(200, np.random.default_rng(1))
    fake["age"] = np.clip(fake["age"] + 5, 18, 79)  # a visibly shifted column
    fake.to_parquet(synth / "synthetic.parquet", index=False)

    out = root / "x"
    (out / "plots").mkdir(parents=True)
    (out / "metrics.json").write_text(json.dumps(_table_metrics()), encoding="utf-8")
    (out / "plots" / "gain_vs_ratio.csv").write_text(TABLE_RATIO_CSV, encoding="utf-8")
    (out / "plots" / "gain_vs_fraction.csv").write_text(TABLE_FRACTION_CSV, encoding="utf-8")
    low = "with 10% of the real rows (30): real + 1× synthetic: macro-F1 +0.030 [+0.016, +0.044]"
    (out / "summary.md").write_text(_summary(TABLE_VERDICT, low, EVIL), encoding="utf-8")
    return {"root": root, "data": data, "synthetic": synth, "x": out}


def _table_report(run: dict[str, Path], **changes: Any) -> Path:
    x = run["x"]
    kwargs: dict[str, Any] = {
        "metrics": x / "metrics.json",
        "plots": x / "plots",
        "data": run["data"],
        "synthetic": run["synthetic"],
        "summary": x / "summary.md",
        "out": x / "report.html",
    }
    kwargs.update(changes)
    return write_report(**kwargs)


# -- inputs: images -------------------------------------------------------------------------------
IMAGE_CLASSES = ["ring", "bar", EVIL]


def _images(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = rng.integers(0, 60, (len(labels), 1, 8, 8)).astype(np.uint8)
    for i, c in enumerate(labels):
        if c == 0:
            out[i, 0, 1:7, 1:7] = 220
            out[i, 0, 3:5, 3:5] = 20
        elif c == 1:
            out[i, 0, :, 3:5] = 230
        else:
            out[i, 0, 2:6, 2:6] = 200
    return out


def _image_metrics() -> dict[str, Any]:
    return {
        "primary_metric": "macro_f1",
        "classifier": "cnn",
        "seeds": 3,
        "real": {"accuracy": 0.9, "macro_f1": 0.89},
        "gain": {
            "real+classic": _ci(0.02),
            "real+synth@0.5": _ci(0.01),
            "real+synth@1.0": _ci(0.031, 0.019),
            "real+classic+synth@1.0": _ci(0.04),
            "synth": _ci(-0.5),
        },
        "low_data": {
            "5": {
                "images": 15,
                "real": 0.7,
                "gain": {
                    "real+classic": _ci(0.05),
                    "real+synth@1.0": _ci(0.06),
                    "real+classic+synth@1.0": _ci(0.07),
                },
            }
        },
        "fidelity": {
            "frechet_distance": 12.5,
            "reference_frechet_distance": 0.9,
            "precision": 0.8,
            "recall": 0.6,
            "density": 0.7,
            "coverage": 0.5,
        },
    }


IMAGE_RATIO_CSV = """ratio,synthetic,synthetic_low,synthetic_high,classic,classic_low,classic_high
0.5,0.01,-0.004,0.024,0.02,0.006,0.034
1,0.031,0.012,0.05,0.02,0.006,0.034
"""
IMAGE_PER_CLASS_CSV = """per_class,synthetic,synthetic_low,synthetic_high,classic,classic_low,\
classic_high,classic_synthetic,classic_synthetic_low,classic_synthetic_high
5,0.06,0.046,0.074,0.05,0.036,0.064,0.07,0.056,0.084
20,0.031,0.012,0.05,0.02,0.006,0.034,0.04,0.026,0.054
"""


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("image_report")
    rng = np.random.default_rng(0)
    splits = {}
    for name, per in (("train", 20), ("validation", 4), ("test", 6)):
        labels = np.repeat(np.arange(3), per)
        splits[name] = ImageSplit(_images(labels, rng), labels)
    schema = ImageSchema(classes=IMAGE_CLASSES, size=8, channels=1, class_counts=[20, 20, 20])
    write_image_bundle(root / "data", schema, splits)

    synth = root / "synth"
    labels = np.repeat(np.arange(3), 10)
    with ImageFolderWriter(synth, ["ring", "bar", "evil"]) as writer:
        writer.write(_images(labels, rng)[:, :, ::-1], labels)  # flipped: visibly different
    # the manifest names the data's classes (the writer's folder names must be safe)
    rows = pd.read_csv(synth / "manifest.csv")
    rows["label"] = rows["label"].replace({"evil": EVIL})
    rows.to_csv(synth / "manifest.csv", index=False)
    (synth / "generation.json").write_text("{}", encoding="utf-8")

    x = root / "x"
    (x / "plots").mkdir(parents=True)
    (x / "metrics.json").write_text(json.dumps(_image_metrics()), encoding="utf-8")
    (x / "plots" / "gain_vs_ratio.csv").write_text(IMAGE_RATIO_CSV, encoding="utf-8")
    (x / "plots" / "gain_vs_per_class.csv").write_text(IMAGE_PER_CLASS_CSV, encoding="utf-8")
    low = "with 5 real images per class (15 images): real + 1× synthetic: +0.060 [+0.046, +0.074]"
    (x / "summary.md").write_text(_summary(IMAGE_VERDICT, low), encoding="utf-8")
    return {"root": root, "data": root / "data", "synthetic": synth, "x": x}


def _image_report(run: dict[str, Path], **changes: Any) -> Path:
    x = run["x"]
    kwargs: dict[str, Any] = {
        "metrics": x / "metrics.json",
        "plots": x / "plots",
        "data": run["data"],
        "synthetic": run["synthetic"],
        "summary": x / "summary.md",
        "out": x / "report.html",
    }
    kwargs.update(changes)
    return write_report(**kwargs)


# -- page checks ----------------------------------------------------------------------------------
IMG_SRC = re.compile(r'<img\b[^>]*\bsrc="([^"]*)"')


def _check_self_contained(page: str) -> list[bytes]:
    """No script, no external reference; every image a data: URI holding a PNG. Returns them."""
    assert "<script" not in page.lower()
    for attr in re.findall(r'\b(?:src|href|action|poster|data)\s*=\s*"([^"]*)"', page):
        assert attr.startswith("data:"), attr
    assert not re.search(r"(?i)https?://", page)
    assert "url(" not in page and "@import" not in page  # CSS loads nothing either
    pngs = []
    for src in IMG_SRC.findall(page):
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1], validate=True)
        with Image.open(io.BytesIO(png)) as picture:
            picture.verify()
        pngs.append(png)
    return pngs


def _text_order(page: str, *needles: str) -> None:
    positions = [page.index(n) for n in needles]
    assert positions == sorted(positions), needles


# -- tables ---------------------------------------------------------------------------------------
def test_table_report_is_one_self_contained_page_verdict_first(table_run):
    out = _table_report(table_run)
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    pngs = _check_self_contained(page)
    assert len(pngs) == 4  # gain vs ratio, gain vs fraction, distributions, association difference
    verdict = page.index(_esc(TABLE_VERDICT))
    assert verdict < page.index("Gain over real only") < page.index("Real vs synthetic")
    _text_order(page, "Verdict:", 'id="gains"', 'id="recipes"', 'id="quality"', 'id="samples"')
    assert "Where real data is scarce: with 10% of the real rows" in page
    # headline numbers and the recipe table
    assert "Best mix · real + 0.5× synthetic" in page
    assert "real + SMOTE" in page and "synthetic only" in page
    assert "0.8140" in page  # real-only 0.81 + gain 0.004, in the recipe table
    assert "10% (30 rows)" in page
    assert "0.530" in page  # the privacy share
    # text from data is escaped: a column name, a category (drawn in a PNG), the summary
    assert "&lt;b&gt;odd&lt;/b&gt; &amp; name" in page and "<b>odd</b>" not in page
    assert EVIL not in page and "&lt;script&gt;" in page
    # the folded summary rendered from Markdown
    assert "<code>real+synth@r</code>" in page and "<em>emphasis</em>" in page
    assert "<th>macro-F1</th>" in page
    # nothing left behind by the atomic write
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_table_report_without_summary_derives_the_verdict(table_run):
    page = render_report(
        metrics=table_run["x"] / "metrics.json",
        plots=table_run["x"] / "plots",
        data=table_run["data"],
    )
    assert "real + 0.5× synthetic: macro-F1 +0.004 [-0.010, +0.018] vs real only" in page
    assert "no significant gain" in page
    assert "No synthetic set given" in page
    assert len(_check_self_contained(page)) == 2
    assert "full evaluation summary" not in page


def test_table_report_samples_the_model_when_no_set_is_given(table_run, monkeypatch):
    frame = pd.read_parquet(table_run["synthetic"] / "synthetic.parquet")
    calls = []

    class Fake:
        def sample(self, labels, *, seed=0):
            calls.append((len(labels), seed))
            return frame.sample(len(labels), replace=True, random_state=seed)

    monkeypatch.setattr("augment.registry.load_synthesizer", lambda model, device: Fake())
    page = render_report(
        metrics=table_run["x"] / "metrics.json",
        plots=table_run["x"] / "plots",
        data=table_run["data"],
        model=table_run["root"] / "model",
        seed=3,
    )
    assert calls and calls[0][1] == 3 and abs(calls[0][0] - 300) <= 2  # the train split's size
    assert "sampled from" in page and "Column distributions" in page


def test_table_report_with_one_seed_and_no_sweep(table_run, tmp_path):
    metrics = _table_metrics(low_data=False)
    for per in metrics["gain"].values():
        for clf in per.values():
            clf["macro_f1"].update(low=None, high=None)  # JSON null: no interval from one seed
    (tmp_path / "plots").mkdir()
    (tmp_path / "m.json").write_text(json.dumps(metrics), encoding="utf-8")
    ratio = TABLE_RATIO_CSV.replace("-0.01,0.018", ",").replace("-0.034,-0.006", ",")
    (tmp_path / "plots" / "gain_vs_ratio.csv").write_text(ratio, encoding="utf-8")
    (tmp_path / "plots" / "gain_vs_fraction.csv").write_text(
        TABLE_FRACTION_CSV.splitlines()[0] + "\n" + TABLE_FRACTION_CSV.splitlines()[2] + "\n",
        encoding="utf-8",
    )
    page = render_report(
        metrics=tmp_path / "m.json", plots=tmp_path / "plots", data=table_run["data"]
    )
    assert "n/a (one seed)" in page and "Low-data sweep" not in page
    _check_self_contained(page)


def test_missing_inputs_name_the_file(table_run, image_run, tmp_path):
    x = table_run["x"]
    with pytest.raises(AugmentError, match="metrics file not found: .*nope.json"):
        _table_report(table_run, metrics=x / "nope.json")
    with pytest.raises(AugmentError, match="gain_vs_ratio.csv"):
        _table_report(table_run, plots=tmp_path)
    with pytest.raises(AugmentError, match="summary not found: .*nope.md"):
        _table_report(table_run, summary=x / "nope.md")
    with pytest.raises(AugmentError, match="synthetic set not found: .*nothing"):
        _table_report(table_run, synthetic=tmp_path / "nothing")
    with pytest.raises(AugmentError, match="prepared data not found"):
        _table_report(table_run, data=tmp_path / "no-data")
    with pytest.raises(AugmentError, match="not an `augment evaluate` metrics file"):
        (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
        _table_report(table_run, metrics=tmp_path / "bad.json")
    with pytest.raises(AugmentError, match="image evaluation but .* table dataset"):
        _table_report(table_run, metrics=image_run["x"] / "metrics.json")
    with pytest.raises(AugmentError, match="manifest.csv is missing"):
        _image_report(image_run, synthetic=tmp_path)
    assert not (x / "report.html").exists() or "nope" not in (x / "report.html").read_text()


# -- images ---------------------------------------------------------------------------------------
def test_image_report_shows_real_and_synthetic_rows_per_class(image_run):
    page = _image_report(image_run).read_text(encoding="utf-8")
    pngs = _check_self_contained(page)
    assert len(pngs) == 2 + 2 * 3  # two gain plots, a real and a synthetic strip per class
    verdict = page.index(_esc(IMAGE_VERDICT))
    assert verdict < page.index("Gain over real only")
    assert 'class="verdict good"' in page  # the best mix's interval lies above 0
    _text_order(page, "Verdict:", 'id="recipes"', ">Fidelity<", 'id="samples"')
    assert "Classic augmentation" in page and "Classic + 1× synthetic" in page
    assert "5 per class (15 images)" in page and "12.5" in page
    assert "&lt;script&gt;" in page and EVIL not in page  # a class name from data
    strips = [Image.open(io.BytesIO(png)) for png in pngs[2:]]
    assert all(s.size[0] > 7 * s.size[1] for s in strips)  # rows of 8 images each
    # real and synthetic strips differ (the fake images are flipped)
    assert pngs[2] != pngs[3]


def test_image_report_falls_back_to_samples_png_then_to_a_note(image_run, tmp_path):
    plots = tmp_path / "plots"
    shutil.copytree(image_run["x"] / "plots", plots)
    base = {"metrics": image_run["x"] / "metrics.json", "plots": plots, "data": image_run["data"]}
    page = render_report(**base)
    assert "No synthetic images given" in page
    Image.new("L", (40, 20), 128).save(plots / "samples.png")
    page = render_report(**base)
    assert len(_check_self_contained(page)) == 3 and "samples.png" in page


def test_image_report_samples_the_model(image_run, monkeypatch):
    class Fake:
        def sample(self, labels, *, seed=0):
            return _images(np.asarray(labels), np.random.default_rng(seed))

    monkeypatch.setattr("augment.registry.load_synthesizer", lambda model, device: Fake())
    page = render_report(
        metrics=image_run["x"] / "metrics.json",
        plots=image_run["x"] / "plots",
        data=image_run["data"],
        model=image_run["root"] / "model",
    )
    assert len(_check_self_contained(page)) == 8 and "sampled from" in page


# -- pieces ---------------------------------------------------------------------------------------
def test_markdown_renders_the_summary_subset_and_escapes():
    text = (
        "# Title <b>\n\nA `code <x>` and *em* and a lone * star.\n\n| a | b |\n|---|---|\n"
        "| 1 * | <i>2</i> |\n\n- one\n- two `*`\n"
    )
    out = markdown_html(text)
    assert "<h3>Title &lt;b&gt;</h3>" in out
    assert "<code>code &lt;x&gt;</code>" in out and "<em>em</em>" in out
    assert "lone * star" in out
    assert "<th>a</th>" in out and "<td>1 *</td>" in out and "&lt;i&gt;2&lt;/i&gt;" in out
    assert "<li>one</li>" in out and "<code>*</code>" in out
    assert "<b>" not in out and "<i>" not in out


def test_association_and_frequencies():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    frame = pd.DataFrame(
        {
            "x": x,
            "y": 2 * x + rng.normal(scale=0.1, size=400),
            "c": np.where(x > 0, "hi", "lo"),
            "n": rng.choice(list("abcdefghijklmnop"), 400),
        }
    )
    cols = [
        ColumnSpec("x", "continuous", "float64"),
        ColumnSpec("y", "continuous", "float64"),
        ColumnSpec("c", "categorical", "object"),
        ColumnSpec("n", "categorical", "object"),
    ]
    assoc = association_matrix(frame, cols)
    assert np.allclose(np.diag(assoc), 1.0) and np.allclose(assoc, assoc.T, equal_nan=True)
    assert assoc[0, 1] > 0.95 and assoc[0, 2] > 0.8 and assoc[0, 3] < 0.3
    freq = category_frequencies(frame["n"], frame["n"].iloc[:200], top=5)
    assert len(freq) == 6 and freq.index[-1] == "other (11)"
    assert np.isclose(freq["real"].sum(), 1.0) and np.isclose(freq["synthetic"].sum(), 1.0)
    # 1, 1.0 and "1" are one category (a CSV's and a Parquet file's readings agree)
    same = category_frequencies(pd.Series([1, 2, None]), pd.Series([1.0, 2.0, np.nan]))
    assert list(same.index) == ["1", "2", "(missing)"]
    assert np.allclose(same["real"], same["synthetic"])
    schema = TableSchema(label="c", columns=cols, classes=["hi", "lo"])
    _, scores = column_distributions(frame, frame, schema, cols)
    assert [round(s["score"], 6) for s in scores] == [1.0] * 4


# -- a real browser -------------------------------------------------------------------------------
CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
# Chromium logs every console message (script errors, blocked loads) as ``...:CONSOLE:...``; the
# page has no script, so any such line is a fault.
CONSOLE_ERRORS = re.compile(r":CONSOLE\b|Uncaught|net::ERR_")


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH")
def test_report_shows_in_headless_chromium(table_run, tmp_path):
    page = _table_report(table_run, out=tmp_path / "report.html")
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    # The check can fail: a page whose policy blocks an image logs a console line.
    control = tmp_path / "control.html"
    head = page.read_text(encoding="utf-8").split("<title>")[0]
    control.write_text(head + '</head><body><img src="http://127.0.0.1:9/x.png"></body></html>')
    blocked = subprocess.run(
        [*flags, "--dump-dom", control.as_uri()], capture_output=True, text=True, timeout=60
    )
    assert CONSOLE_ERRORS.search(blocked.stderr), blocked.stderr[-2000:]

    url = page.resolve().as_uri()
    shot = tmp_path / "report.png"
    dom = subprocess.run(
        [*flags, "--dump-dom", url], capture_output=True, text=True, timeout=60, check=False
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not CONSOLE_ERRORS.search(dom.stderr), dom.stderr[-2000:]
    assert _esc(TABLE_VERDICT) in dom.stdout or TABLE_VERDICT in dom.stdout
    assert dom.stdout.count("<img") == 4
    run = subprocess.run(
        [*flags, f"--screenshot={shot}", "--window-size=1200,2400", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    assert not CONSOLE_ERRORS.search(run.stderr), run.stderr[-2000:]
    with Image.open(shot) as picture:
        pixels = np.asarray(picture.convert("L"), dtype=np.float64)
    assert pixels.shape == (2400, 1200)
    # the verdict box (amber for "no significant gain") sits near the top, and figures below it
    top = np.asarray(Image.open(shot).convert("RGB"))[100:300]
    assert ((top[..., 0] > 240) & (top[..., 2] < 230) & (top[..., 1] > 230)).sum() > 10_000
    assert pixels[:1200].std() > 20  # not a blank page


def _esc(text: str) -> str:
    import html

    return html.escape(text, quote=True)
