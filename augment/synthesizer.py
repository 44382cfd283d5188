"""``augment.Synthesizer``: fit a GAN on data you hold in memory and sample from it.

For a pipeline of your own, without a prepared bundle on disk: a pandas DataFrame with a label
column, or images as an array with labels (or an image folder, MNIST IDX files, an .npz). The
data is prepared exactly as ``augment ingest`` would prepare it (kinds inferred, missing values
handled; images resized and converted), then the project's GAN for that modality is fitted.
Saved models are the same folders ``augment train`` writes, so the CLI can use them too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from augment.core.labels import chunked_labels, match_class, plan_counts
from augment.core.modalities import IMAGE, TABULAR
from augment.errors import AugmentError
from augment.registry import default_model, load_synthesizer, make_synthesizer, models_for


class Synthesizer:
    """A class-conditional synthesizer for a table or an image set.

    ``model`` is ``auto`` (``tabgan`` for tables, ``imagegan`` for images) or a model name;
    ``hyperparameters`` go to the model (``epochs`` for tables, ``steps`` for images, ...). A
    table trains for at least ``min_steps`` (1,500) steps whatever its ``epochs``; ``max_steps``
    caps it.

    Example (tiny budgets; real runs train far longer):
        >>> import augment, pandas as pd
        >>> table = pd.DataFrame({"age": [23, 35, 47, 51, 62, 29] * 20,
        ...                       "plan": ["a", "b", "a", "c", "b", "a"] * 20,
        ...                       "churn": ["no", "no", "yes", "no", "yes", "no"] * 20})
        >>> synth = augment.Synthesizer(max_steps=50).fit(table, label="churn", device="cpu",
        ...                                                progress=False)
        >>> rows = synth.sample(10, labels={"yes": 4, "no": 6}, seed=0)
        >>> list(rows.columns), rows["churn"].value_counts().to_dict()
        (['age', 'plan', 'churn'], {'no': 6, 'yes': 4})
        >>> synth.save(tmp / "churn-gan")
        >>> augment.Synthesizer.load(tmp / "churn-gan").sample(3, seed=1).shape
        (3, 3)

        Images: an array with labels (or a folder path), then images and their class names.

        >>> from sklearn.datasets import load_digits
        >>> digits = load_digits()
        >>> gan = augment.Synthesizer(steps=5).fit((digits.images * 16).astype("uint8"),
        ...                                        labels=digits.target, device="cpu",
        ...                                        progress=False)
        >>> images, names = gan.sample(4, labels=[7, 7, 3, 3], seed=0)
        >>> images.shape, names.tolist()
        ((4, 1, 8, 8), ['7', '7', '3', '3'])
    """

    def __init__(self, model: str = "auto", **hyperparameters: Any) -> None:
        self.model_name = model
        self.hyperparameters = dict(hyperparameters)
        self.model: Any = None

    @property
    def modality(self) -> str | None:
        return None if self.model is None else self.model.schema.modality

    @property
    def classes(self) -> list[Any]:
        """The label's classes, in the model's order (label index ``i`` is ``classes[i]``)."""
        self._check_fitted()
        return list(self.model.schema.classes)

    def fit(
        self,
        data: pd.DataFrame | np.ndarray | str | Path,
        label: str | None = None,
        *,
        labels: Sequence[Any] | np.ndarray | None = None,
        size: int | None = None,
        channels: int | None = None,
        kinds: Mapping[str, str] | None = None,
        seed: int = 0,
        device: str = "auto",
        progress: bool = True,
    ) -> Synthesizer:
        """Fit on a DataFrame (``label``: its label column; ``kinds`` overrides column kinds) or
        on images (an array with ``labels``, or a folder / IDX / .npz / ``digits`` path;
        ``size`` and ``channels`` as for ``augment ingest``). Returns ``self``."""
        if isinstance(data, pd.DataFrame):
            from augment.tabular.ingest import prepare_frame

            if label is None:
                raise AugmentError("fit(table, label=...) needs the label column's name")
            frame, schema = prepare_frame(data, label, kinds=dict(kinds or {}))
            train, modality = frame, TABULAR
        else:
            from augment.images.ingest import prepare_images

            train, schema = prepare_images(
                data, labels, size=size, channels=channels, progress=progress
            )
            modality = IMAGE
        name = default_model(modality) if self.model_name == "auto" else self.model_name
        if name not in models_for(modality):
            raise AugmentError(f"model {name!r} cannot fit {modality} data")
        self.model = make_synthesizer(name, self.hyperparameters)
        self.model.fit(train, schema, seed=seed, device=device, progress=progress)
        return self

    def sample(
        self,
        n: int | None = None,
        labels: Sequence[Any] | Mapping[Any, int] | None = None,
        *,
        balance: bool = False,
        seed: int = 0,
    ) -> pd.DataFrame | tuple[np.ndarray, np.ndarray]:
        """``n`` samples in the training data's class mix (``balance``: equal classes), or
        exactly ``labels``: one class per sample (a sequence) or ``{class: count}``.

        Tables: a DataFrame in the original schema. Images: ``(images, class_names)``, uint8
        ``(N, C, H, W)`` and the class name of each image.
        """
        self._check_fitted()
        schema = self.model.schema
        if labels is not None and not isinstance(labels, Mapping):
            codes = np.asarray([match_class(x, schema.classes) for x in labels], dtype=np.int64)
            if n is not None and n != len(codes):
                raise AugmentError(f"n={n} but {len(codes)} labels were given")
        else:
            plan = plan_counts(
                schema.classes, schema.class_counts, n=n, balance=balance, counts=labels
            )
            codes = next(chunked_labels(plan, max(1, sum(plan)), seed), np.zeros(0, np.int64))
        names = np.asarray(schema.classes, dtype=object)[codes]
        if schema.modality == IMAGE:
            return self.model.sample(codes, seed=seed), names.astype(str)
        return self.model.sample(names, seed=seed)

    def save(self, path: str | Path) -> None:
        """A model folder (safetensors + JSON), the same as ``augment train`` writes."""
        self._check_fitted()
        self.model.save(path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> Synthesizer:
        """Load a model folder written by :meth:`save` or ``augment train``; no code runs."""
        model = load_synthesizer(path, device=device)
        synth = cls(getattr(model, "name", "auto"))
        synth.model = model
        return synth

    def _check_fitted(self) -> None:
        if self.model is None or self.model.schema is None:
            raise AugmentError("the synthesizer is not fitted: call fit() or load() first")
