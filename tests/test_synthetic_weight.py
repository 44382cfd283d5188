"""A weight for synthetic samples in the downstream loss (evaluate's ``synthetic_weight``): the
weight reaches the loss of both modalities' classifiers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from augment.images.evaluation.classifiers import (
    FitTask,
    train_classifier,
    weighted_cross_entropy,
)
from augment.tabular.evaluation.classifiers import DownstreamClassifier
from augment.tabular.schema import TableSchema


def test_weighted_cross_entropy_drops_zero_weights_exactly_and_scales_the_rest():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 3, generator=gen)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    weights = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    got = weighted_cross_entropy(logits, labels, weights)
    assert torch.allclose(got, F.cross_entropy(logits[:3], labels[:3]))
    halves = weighted_cross_entropy(logits, labels, torch.tensor([1.0] * 3 + [0.5] * 3))
    ce = F.cross_entropy(logits, labels, reduction="none")
    assert torch.allclose(halves, (ce[:3].sum() + 0.5 * ce[3:].sum()) / 4.5)
    assert weighted_cross_entropy(logits, labels, torch.zeros(6)) == 0


def _images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = (labels[:, None, None, None] * 60 + rng.integers(0, 60, (n, 1, 8, 8))).astype(np.uint8)
    return torch.from_numpy(images), torch.from_numpy(labels)


def _params(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_a_synthetic_weight_of_zero_makes_the_cnn_ignore_their_labels():
    real_x, real_y = _images(24, 0)
    synth_x, synth_y = _images(24, 1)
    x = torch.cat([real_x, synth_x])
    task = FitTask("cnn", 3, 6, 16, 0, False, False, "cpu", synthetic_weight=0.0, n_real=24)
    weights = torch.from_numpy(task.weights(48))
    kwargs = dict(arch="cnn", num_classes=3, steps=6, batch_size=16, seed=0)
    true = train_classifier(x, torch.cat([real_y, synth_y]), weights=weights, **kwargs)
    wrong = train_classifier(x, torch.cat([real_y, (synth_y + 1) % 3]), weights=weights, **kwargs)
    # With weight 0 the synthetic labels cannot matter; with weight 1 they do.
    assert torch.equal(_params(true), _params(wrong))
    plain_true = train_classifier(x, torch.cat([real_y, synth_y]), **kwargs)
    plain_wrong = train_classifier(x, torch.cat([real_y, (synth_y + 1) % 3]), **kwargs)
    assert not torch.equal(_params(plain_true), _params(plain_wrong))
    # Weights of 1 are the plain mean (up to rounding): the default path is unchanged.
    ones = train_classifier(x, torch.cat([real_y, synth_y]), weights=torch.ones(48), **kwargs)
    assert torch.allclose(_params(ones), _params(plain_true), atol=1e-5)
    assert FitTask("cnn", 3, 6, 16, 0, False, False, "cpu").weights(48) is None


@pytest.mark.parametrize("name", ["hgb", "logreg"])
def test_a_synthetic_weight_of_zero_makes_table_classifiers_ignore_those_rows(name):
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {"x": rng.normal(size=n), "c": rng.choice(["u", "v"], n), "y": rng.choice(["a", "b"], n)}
    )
    frame.loc[frame["x"] > 0.3, "y"] = "a"
    schema = TableSchema.from_dict(
        {
            "label": "y",
            "classes": ["a", "b"],
            "columns": [
                {"name": "x", "kind": "continuous", "dtype": "float64", "min": -5, "max": 5},
                {"name": "c", "kind": "categorical", "dtype": "object", "categories": ["u", "v"]},
                {"name": "y", "kind": "categorical", "dtype": "object", "categories": ["a", "b"]},
            ],
        }
    )
    flipped = frame.copy()
    flipped.loc[60:, "y"] = flipped.loc[60:, "y"].map({"a": "b", "b": "a"})
    weight = np.r_[np.ones(60), np.zeros(60)]
    fit = lambda data, w: DownstreamClassifier(name, schema, seed=0).fit(data, w)  # noqa: E731
    same = fit(frame, weight).predict_proba(frame), fit(flipped, weight).predict_proba(frame)
    np.testing.assert_allclose(*same, atol=1e-8)
    differ = fit(frame, None).predict_proba(frame), fit(flipped, None).predict_proba(frame)
    assert np.abs(differ[0] - differ[1]).max() > 0.05
