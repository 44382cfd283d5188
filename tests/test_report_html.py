"""``augment report``: the self-contained HTML page of an evaluation, for tables and images.

Every page here starts from a real ``augment evaluate`` result: the fixtures ingest a small table
and a small image folder, train the project's GANs for a few steps, evaluate them over two seeds
with a low-data sweep and generate a synthetic set. Names from the data carry HTML, to show it is
escaped. The last test opens the page in headless Chromium when one is installed.
"""

from __future__ import annotations

import base64
import html
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

import augment
from augment.errors import AugmentError
from augment.evaluation.results import EvaluationResult
from augment.reporting.html import render_report, write_report
from augment.reporting.markdown import markdown_html
from augment.tabular.figures import association_matrix, category_frequencies, column_distributions
from augment.tabular.schema import ColumnSpec, TableSchema

EVIL = "<script>alert('x')</script>"
EVIL_CLASS = "<img src=x onerror=alert(1)>"  # a folder name: no slash
ODD_COLUMN = "<b>odd</b> & name"


# -- a real table run -----------------------------------------------------------------------------
def _table_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    label = np.where(rng.random(n) < 0.7, "no", EVIL)  # the minority class, named in the summary
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n) + np.where(label == EVIL, 10, 0),
            "income": np.round(rng.lognormal(10, 0.5, n), 2),
            "city": rng.choice(["Oslo", "Lima", "Pune", EVIL], n).astype(object),
            "joined": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
            ODD_COLUMN: rng.normal(0, 1, n),
            "label": label,
        }
    )
    frame.loc[::17, "income"] = np.nan
    return frame


def _evaluate_table(root: Path, name: str, **settings: Any) -> EvaluationResult:
    return augment.evaluate(
        root / "data",
        root / "model",
        classifier_params={"hgb": {"max_iter": 10}},
        privacy_rows=40,
        jobs=1,  # the report is under test here, not the fan-out: no worker processes to start
        device="cpu",
        progress=False,
        metrics=root / name / "metrics.json",
        plots=root / name / "plots",
        report=root / name / "summary.md",
        **settings,
    )


@pytest.fixture(scope="module")
def table_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("table_report")
    _table_frame(400, np.random.default_rng(0)).to_csv(root / "table.csv", index=False)
    data = augment.ingest(root / "table.csv", "label", root / "data", progress=False)
    augment.train(data, root / "model", epochs=1, max_steps=4, device="cpu", progress=False)
    augment.generate(root / "model", 200, root / "synth", device="cpu", progress=False)
    result = _evaluate_table(root, "x", seeds=2, ratios=[0.5, 1.0], fractions=[0.3, 1.0])
    return {"root": root, "data": root / "data", "synthetic": root / "synth", "x": root / "x",
            "model": root / "model", "result": result}  # fmt: skip


def _table_report(run: dict[str, Any], **changes: Any) -> Path:
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


# -- a real image run -----------------------------------------------------------------------------
IMAGE_CLASSES = ("bar", "ring", EVIL_CLASS)


def _draw(c: int, rng: np.random.Generator) -> np.ndarray:
    out = rng.integers(0, 60, (8, 8)).astype(np.uint8)
    if c == 0:
        out[:, 3:5] = 230
    elif c == 1:
        out[1:7, 1:7] = 220
        out[3:5, 3:5] = 20
    else:
        out[2:6, 2:6] = 200
    return out


@pytest.fixture(scope="module")
def image_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("image_report")
    rng = np.random.default_rng(0)
    for c, name in enumerate(IMAGE_CLASSES):
        (root / "photos" / name).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(_draw(c, rng)).save(root / "photos" / name / f"{i}.png")
    data = augment.ingest(root / "photos", out=root / "data", progress=False)
    augment.train(data, root / "model", steps=4, device="cpu", progress=False)
    augment.generate(root / "model", 30, root / "synth", balance=True, device="cpu",
                     progress=False)  # fmt: skip
    x = root / "x"
    result = augment.evaluate(
        root / "data",
        root / "model",
        seeds=2,
        ratios=[0.5, 1.0],
        per_class=[5],
        steps=5,
        epochs=None,
        pretrain_steps=5,
        pretrain_images=40,
        fidelity_images=12,
        samples_per_class=3,
        device="cpu",
        jobs=1,
        progress=False,
        metrics=x / "metrics.json",
        plots=x / "plots",
        report=x / "summary.md",
    )
    return {"root": root, "data": root / "data", "synthetic": root / "synth", "x": x,
            "model": root / "model", "result": result}  # fmt: skip


def _image_report(run: dict[str, Any], **changes: Any) -> Path:
    x = run["x"]
    kwargs: dict[str, Any] = {
        "metrics": x / "metrics.json",
        "plots": x / "plots",
        "data": run["data"],
        "synthetic": run["synthetic"],
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


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _folded(page: str) -> str:
    return page[page.index('<details id="summary">') : page.index("</details>")]


# -- tables ---------------------------------------------------------------------------------------
def test_table_report_is_one_self_contained_page_verdict_first(table_run):
    result: EvaluationResult = table_run["result"]
    out = _table_report(table_run)
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    pngs = _check_self_contained(page)
    assert len(pngs) == 4  # gain vs ratio, gain vs real data, distributions, association
    verdict = page.index(_esc(result.verdict.text))
    assert verdict < page.index("Gain over real only") < page.index("Real vs synthetic")
    _text_order(page, "Verdict:", 'id="gains"', 'id="recipes"', 'id="quality"', 'id="samples"')
    tone = {"helps": "good", "hurts": "bad"}.get(result.verdict.tone, "neutral")
    assert f'class="verdict {tone}"' in page
    assert "Where real data is scarce: " + _esc(result.low_data_verdict.text) in page
    assert _esc("Each interval is a 95% Student-t interval over seeds") in page
    assert page.count("Table · data") == 1  # the modality, read from the result
    # the headline numbers and recipe tables are the result's
    full, best = result.full, result.recipe(result.verdict.recipe)
    assert f"Best mix · {best.label}" in page and "real + SMOTE-NC" in page
    # the recommendation made on validation, as a card of its own
    recommended = result.verdict.recommended
    assert recommended is not None and "Recommended (validation)" in page
    label = "real only" if recommended == "real" else result.recipe(recommended).label
    assert f'<div class="card-value">{_esc(label)}</div>' in page
    assert f"{full.score(best.name, 'hgb', 'macro_f1').mean:.4f}" in page
    assert f"{full.score('real', 'logreg', 'macro_f1').mean:.4f}" in page
    assert f"30% ({result.sweep[0].size:,} rows)" in page and "synthetic only" in page
    assert f"{result.privacy.dcr_share_closer_to_train:.3f}" in page
    # text from data is escaped: a column name, the minority class (a category only in a PNG)
    assert _esc(ODD_COLUMN) in page and ODD_COLUMN not in page
    assert EVIL not in page and f"minority class <code>{_esc(EVIL)}</code>" in page
    # the folded summary, from the Markdown evaluate wrote
    folded = _folded(page)
    assert "<code>real+synth@r</code>" in folded and "<th>macro-F1</th>" in folded
    assert "Weakest column pairs" in folded or "| column | metric | score |" not in folded
    # nothing left behind by the atomic write
    assert [p.name for p in out.parent.iterdir() if p.name.startswith(".")] == []


def test_summary_and_page_render_the_same_result(table_run):
    """The page without the summary file renders the summary from the metrics JSON: the same
    text evaluate wrote, so the verdicts, tables and folded summary all agree."""
    x = table_run["x"]
    with_file = render_report(
        metrics=x / "metrics.json", data=table_run["data"], summary=x / "summary.md"
    )
    without = render_report(metrics=x / "metrics.json", data=table_run["data"])
    assert _folded(with_file) == _folded(without)
    written = (x / "summary.md").read_text(encoding="utf-8").splitlines()
    assert written[0] == table_run["result"].verdict.text
    assert _esc(written[0]) in without
    assert "No synthetic set given" in without and "full evaluation summary" in without
    assert len(_check_self_contained(without)) == 2


def test_report_reads_the_modality_from_the_result(table_run, image_run):
    for run in (table_run, image_run):
        assert json.loads((run["x"] / "metrics.json").read_text())["modality"] == (
            run["result"].modality
        )
    with pytest.raises(AugmentError, match="image evaluation but .* a table dataset"):
        _table_report(table_run, metrics=image_run["x"] / "metrics.json")
    with pytest.raises(AugmentError, match="table evaluation but .* an image dataset"):
        _image_report(image_run, metrics=table_run["x"] / "metrics.json", synthetic=None)


def test_report_refuses_metrics_or_a_model_of_other_data(table_run, tmp_path):
    """The page puts an evaluation and a model's samples beside the data's rows: all three must
    be of one table. Before, another table's metrics made a page without a word, and another
    table's model failed on its first unknown label."""
    other = _table_frame(60, np.random.default_rng(1)).rename(columns={"label": "kind"})
    other["kind"] = np.where(np.arange(60) % 2, "up", "down")
    other.to_csv(tmp_path / "other.csv", index=False)
    data = augment.ingest(tmp_path / "other.csv", "kind", tmp_path / "data", progress=False)
    augment.train(data, tmp_path / "model", epochs=1, max_steps=2, device="cpu", progress=False)
    metrics = table_run["x"] / "metrics.json"
    with pytest.raises(AugmentError, match=r"metrics.json evaluates other data: its classes are"):
        render_report(metrics=metrics, data=tmp_path / "data")
    with pytest.raises(AugmentError, match=r"data does not match the model: its classes are"):
        render_report(metrics=metrics, data=table_run["data"], model=tmp_path / "model")


def test_table_report_samples_the_model_when_no_set_is_given(table_run):
    page = render_report(
        metrics=table_run["x"] / "metrics.json",
        data=table_run["data"],
        model=table_run["model"],
        seed=3,
    )
    assert "sampled from" in page and "Column distributions" in page
    assert len(_check_self_contained(page)) == 4


def test_table_report_with_one_seed_and_no_sweep(table_run):
    root = table_run["root"]
    result = _evaluate_table(root, "one", seeds=1, ratios=[1.0], fractions=[1.0], smote=False)
    assert result.sweep == [] and result.verdict.tone == "untested"
    page = render_report(metrics=root / "one" / "metrics.json", data=table_run["data"])
    assert "n/a (one seed)" in page and "<h3>Low-data sweep" not in page
    assert "Verdict: no interval from one seed" in page and "Scarce data" not in page
    assert len(_check_self_contained(page)) == 1  # only the gain vs ratio figure


def test_missing_inputs_name_the_file(table_run, image_run, tmp_path):
    x = table_run["x"]
    with pytest.raises(AugmentError, match="metrics file not found: .*nope.json"):
        _table_report(table_run, metrics=x / "nope.json")
    with pytest.raises(AugmentError, match="summary not found: .*nope.md"):
        _table_report(table_run, summary=x / "nope.md")
    with pytest.raises(AugmentError, match="synthetic set not found: .*nothing"):
        _table_report(table_run, synthetic=tmp_path / "nothing")
    with pytest.raises(AugmentError, match="prepared data not found"):
        _table_report(table_run, data=tmp_path / "no-data")
    (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(AugmentError, match="bad.json is not an `augment evaluate` metrics file"):
        _table_report(table_run, metrics=tmp_path / "bad.json")
    tracked = EvaluationResult.from_dict(json.loads((x / "metrics.json").read_text())).tracked()
    (tmp_path / "old.json").write_text(json.dumps(tracked), encoding="utf-8")
    with pytest.raises(AugmentError, match="old.json was written by an older `augment evaluate`"):
        _table_report(table_run, metrics=tmp_path / "old.json")
    broken = json.loads((x / "metrics.json").read_text())
    del broken["blocks"][0]["scores"]
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(AugmentError, match="broken.json is not a readable .* result"):
        _table_report(table_run, metrics=tmp_path / "broken.json")
    with pytest.raises(AugmentError, match="manifest.csv is missing"):
        _image_report(image_run, synthetic=tmp_path)
    assert not (x / "report.html").exists() or "nope" not in (x / "report.html").read_text()


# -- images ---------------------------------------------------------------------------------------
def test_image_report_shows_real_and_synthetic_rows_per_class(image_run):
    result: EvaluationResult = image_run["result"]
    page = _image_report(image_run).read_text(encoding="utf-8")
    pngs = _check_self_contained(page)
    assert len(pngs) == 2 + 2 * 3  # two gain plots, a real and a synthetic strip per class
    assert page.index(_esc(result.verdict.text)) < page.index("Gain over real only")
    _text_order(page, "Verdict:", 'id="recipes"', ">Fidelity<", 'id="samples"')
    assert "Images · data · 8×8 px, grey · 3 classes" in page
    assert "real + classic augmentation" in page and "real + classic + 1× synthetic" in page
    assert "5 per class (15 images)" in page and "Scarce data · 5 per class" in page
    fd = result.fidelity.classifier.synthetic["frechet_distance"]
    assert (f"{fd:.3g}" if fd >= 1 else f"{fd:.3f}") in page
    assert _esc(EVIL_CLASS) in page and EVIL_CLASS not in page  # a class name from data
    strips = [Image.open(io.BytesIO(png)) for png in pngs[2:]]
    assert all(s.size[0] > 7 * s.size[1] for s in strips)  # rows of 8 images each
    assert "<th>macro-F1 vs real+classic</th>" in _folded(page)


def test_image_report_falls_back_to_samples_png_then_to_a_note(image_run):
    base = {"metrics": image_run["x"] / "metrics.json", "data": image_run["data"]}
    page = render_report(**base, plots=image_run["x"] / "plots")  # evaluate's samples.png
    assert len(_check_self_contained(page)) == 3 and "samples.png" in page
    page = render_report(**base)
    assert "No synthetic images given" in page and len(_check_self_contained(page)) == 2


def test_image_report_samples_the_model(image_run):
    page = render_report(
        metrics=image_run["x"] / "metrics.json", data=image_run["data"], model=image_run["model"]
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
    # the panels' scores are the evaluation's: a shifted copy scores below 1 on that column only
    shifted = frame.assign(x=frame["x"] + 0.5, n=frame["n"].replace({"a": "b"}))
    _, scores = column_distributions(frame, shifted, schema, cols)
    assert [s["score"] < 1 for s in scores] == [True, False, False, True]


# -- a real browser -------------------------------------------------------------------------------
CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
# Chromium logs every console message (script errors, blocked loads) as ``...:CONSOLE:...``; the
# page has no script, so any such line is a fault.
CONSOLE_ERRORS = re.compile(r":CONSOLE\b|Uncaught|net::ERR_")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on PATH")
def test_report_shows_in_headless_chromium(table_run, tmp_path):
    verdict = table_run["result"].verdict
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
    assert _esc(verdict.text) in dom.stdout or verdict.text in dom.stdout
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
    # the verdict box (green, red or amber by its tone) sits near the top, figures below it
    top = np.asarray(Image.open(shot).convert("RGB"))[100:300].astype(int)
    background = {"helps": (0xE7, 0xF5, 0xEA), "hurts": (0xFD, 0xEC, 0xEA)}.get(
        verdict.tone, (0xFF, 0xF4, 0xD6)
    )
    near = np.abs(top - np.array(background)).max(axis=2) <= 6
    assert near.sum() > 10_000
    assert pixels[:1200].std() > 20  # not a blank page
