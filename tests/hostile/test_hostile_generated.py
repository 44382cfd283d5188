"""A generated image folder edited by hand: its classes.json and manifest.csv are checked where
they are read (the torch dataset, the report), each defect an error naming the file."""

from __future__ import annotations

import numpy as np
import pytest

from augment.errors import AugmentError
from augment.images.schema import ImageSchema
from augment.images.writer import ImageFolderWriter
from augment.reporting.inputs import read_synthetic_images
from augment.torchdata import SyntheticImageFolder


@pytest.fixture
def generated(tmp_path):
    root = tmp_path / "synth"
    with ImageFolderWriter(root, ["cat", "dog"], workers=1) as writer:
        writer.write(np.full((4, 1, 8, 8), 200, np.uint8), np.array([0, 1, 1, 0]))
    return root


CLASSES = {
    "an object": '{"cat": 0}',
    "numbers": "[0, 1]",
    "empty": "[]",
    "not JSON": "[cat, dog",
}


@pytest.mark.parametrize("case", CLASSES)
def test_tampered_classes_json(case, generated):
    (generated / "classes.json").write_text(CLASSES[case])
    with pytest.raises(AugmentError, match="classes.json"):
        SyntheticImageFolder(generated)


MANIFESTS = {
    "no label column": ("file,kind\ncat/000000.png,cat\n", "columns file,label"),
    "an unknown label": ("file,label\ncat/000000.png,bird\n", "line 2: label 'bird'"),
    "a path outside": ("file,label\n../../etc/passwd,cat\n", "not a path inside the folder"),
    "an absolute path": ("file,label\n/etc/passwd,cat\n", "not a path inside the folder"),
    "a missing image": ("file,label\ncat/999999.png,cat\n", "is missing"),
}


@pytest.mark.parametrize("case", MANIFESTS)
def test_tampered_manifest_for_torch(case, generated):
    text, message = MANIFESTS[case]
    (generated / "manifest.csv").write_text(text)
    with pytest.raises(AugmentError, match=message):
        folder = SyntheticImageFolder(generated)
        folder[0]


def test_tampered_manifest_for_the_report(generated):
    schema = ImageSchema(classes=["cat", "dog"], size=8, channels=1)
    (generated / "manifest.csv").write_text("file,label\n../outside.png,cat\n")
    with pytest.raises(AugmentError, match="manifest.csv names a file outside its folder"):
        read_synthetic_images(generated, schema, per_class=2)
    # Images of a class the data lacks (a folder generated from other data) are refused.
    rows = "file,label\ncat/000000.png,cat\nbird/000000.png,bird\n"
    (generated / "manifest.csv").write_text(rows)
    with pytest.raises(AugmentError, match=r"manifest.csv line 3: label 'bird' is not a class"):
        read_synthetic_images(generated, schema, per_class=2)
    (generated / "manifest.csv").write_bytes(b"file,label\n\xff\xfe,cat\n")
    with pytest.raises(AugmentError, match="cannot read .*manifest.csv"):
        read_synthetic_images(generated, schema, per_class=2)
