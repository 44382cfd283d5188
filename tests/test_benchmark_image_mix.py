"""benchmarks/image_mix_validation.py: the bundle of validation halves that the image
benchmarks score on (the test split is never read) reads back as a prepared dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from augment.images.ingest import ingest_images

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_validation_halves_make_a_readable_bundle(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from image_mix_validation import validation_as_test

    bundle = ingest_images("digits", tmp_path / "prep", progress=False)
    halves = validation_as_test(bundle, tmp_path / "halves", seed=0)
    validation = bundle.validation
    assert len(halves.validation) + len(halves.test) == len(validation)
    assert np.array_equal(halves.train.labels, bundle.train.labels)
    scored = {image.tobytes() for image in halves.test.images}
    assert scored <= {image.tobytes() for image in validation.images}
    assert not scored & {image.tobytes() for image in bundle.test.images}
