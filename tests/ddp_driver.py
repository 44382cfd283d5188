"""Run under torchrun by tests/test_distributed.py: each rank trains both GANs three times.

    torchrun --standalone --nproc-per-node 2 tests/ddp_driver.py ROOT DEVICE

For each run name (tabgan, tabgan-streamed: the same table ingested in batches, imagegan,
imagegan-unlabelled: with unlabelled images to pseudo-label), with the prepared data in
``ROOT/<name>-data``:

1. ``full``: an uninterrupted run into ``ROOT/<name>-full``;
2. ``stopped``: the same into ``ROOT/<name>-resumed``, with SIGTERM sent to rank 0 alone during
   step 5: every rank must stop at the same step with a checkpoint;
3. ``resumed``: the same call again, which must resume from that checkpoint.

Only rank 0 may fit TabGAN's encoder: the others get its JSON. Only rank 0 may train the
pseudo-label judge, and only where no checkpoint holds its classes: ``ROOT/rank<R>.json``
lists the runs where this rank trained it.

After each run every rank writes its own G, D and EMA parameters to
``ROOT/<name>-<run>-rank<R>.safetensors`` (the test checks that the ranks agree), and
``ROOT/rank<R>.json`` gathers the summaries and the interruption's exit code.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from safetensors.torch import save_file

from augment.errors import AugmentError
from augment.images import pseudo_labels
from augment.images.gan import _ImageGANTask
from augment.steps.train import train
from augment.tabular.encoder import TableEncoder
from augment.tabular.gan import _TabGANTask

COMMON = {"threads": 1, "precision": "fp32", "log_every": 2}
MODELS = {
    "tabgan": {
        "epochs": 100,
        "batch_size": 20,
        "max_steps": 12,
        "classifier_steps": 8,  # frozen after the resume at step 6, in step on every rank
        "generator_dims": [16],
        "discriminator_dims": [16],
        "fit_sample": 200,
    },
    "imagegan": {"steps": 12, "batch_size": 8, "channels": 2, "z_dim": 8},
}
MODELS["tabgan-streamed"] = MODELS["tabgan"]  # each rank encodes its share of the rows
MODELS["imagegan-unlabelled"] = {**MODELS["imagegan"], "pseudo_labels": 0.5}
pseudo_labels.CONSISTENCY_STEPS = 40  # a quick judge


def main() -> None:
    root, device = Path(sys.argv[1]), sys.argv[2]
    rank = int(os.environ["RANK"])
    current = {"run": ""}
    stop_at = {"step": 0}

    for task in (_TabGANTask, _ImageGANTask):

        def final_generator(self, *args, _original=task.final_generator, **kwargs):
            # Right after training, before anything rank 0 alone does: each rank's weights.
            weights = {
                f"{name}.{key}": value.detach().cpu().contiguous()
                for name, net in self.networks().items()
                for key, value in net.named_parameters()
            }
            save_file(weights, str(root / f"{current['run']}-rank{rank}.safetensors"))
            return _original(self, *args, **kwargs)

        def end_step(self, step, _original=task.end_step):
            _original(self, step)
            if rank == 0 and step == stop_at["step"]:
                signal.raise_signal(signal.SIGTERM)

        task.final_generator = final_generator
        task.end_step = end_step

    if rank != 0:  # rank 0 fits TabGAN's encoder and sends it to the others

        def fit(*args, **kwargs):
            raise AssertionError(f"rank {rank} fitted an encoder")

        TableEncoder.fit = fit

    judged: list[str] = []
    judge = pseudo_labels.pseudo_label

    def counted_judge(*args, **kwargs):
        judged.append(current["run"])
        return judge(*args, **kwargs)

    pseudo_labels.pseudo_label = counted_judge

    report: dict = {"judged": judged}
    for model, settings in MODELS.items():
        options = {
            "model": model.split("-")[0],
            "device": device,
            "seed": 5,
            "progress": False,
            "checkpoint_every": 3,
            **COMMON,
            **settings,
        }
        data = root / f"{model}-data"
        current["run"] = f"{model}-full"
        report[f"{model}-full"] = train(data, root / f"{model}-full", **options).summary
        current["run"], stop_at["step"] = f"{model}-stopped", 5
        try:
            train(data, root / f"{model}-resumed", **options)
            report[f"{model}-stopped"] = {"exit_code": 0}
        except AugmentError as exc:
            report[f"{model}-stopped"] = {"exit_code": exc.exit_code, "message": str(exc)}
        current["run"], stop_at["step"] = f"{model}-resumed", 0
        report[f"{model}-resumed"] = train(data, root / f"{model}-resumed", **options).summary
    (root / f"rank{rank}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
