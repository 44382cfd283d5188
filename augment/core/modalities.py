"""The two kinds of data augment handles; ``schema.json`` records which one a dataset is."""

TABULAR = "tabular"
IMAGE = "image"
MODALITIES = (TABULAR, IMAGE)
