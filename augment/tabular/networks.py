"""The tabular GAN's networks and the generator's output activation.

Generator: residual MLP blocks whose output is concatenated to their input (as in CTGAN's paper),
with BatchNorm. Discriminator: PacGAN (``pac`` rows judged together), LeakyReLU 0.2, dropout.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from augment.tabular.encoder import SpanLayout


class _Residual(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim)
        self.bn = nn.BatchNorm1d(out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([torch.relu(self.bn(self.fc(x))), x], dim=1)


class Generator(nn.Module):
    """``(noise, condition) -> raw`` outputs; :func:`activate` turns them into encoded rows."""

    def __init__(
        self, noise_dim: int, cond_dim: int, data_dim: int, hidden: Sequence[int] = (256, 256)
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = noise_dim + cond_dim
        for size in hidden:
            layers.append(_Residual(width, size))
            width += size
        layers.append(nn.Linear(width, data_dim))
        self.net = nn.Sequential(*layers)
        self.noise_dim = noise_dim

    def forward(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([noise, cond], dim=1))

    def residuals(self) -> list[_Residual]:
        return [m for m in self.net if isinstance(m, _Residual)]

    @property
    def head(self) -> nn.Linear:
        return self.net[-1]


class SamplingNetwork:
    """The eval-mode generator conditioned on one categorical span (the label), rewritten for
    sampling: the same function in fewer, larger matrix products, one column per row.

    The generator's residual blocks concatenate their output to their input, so layer ``i``
    reads ``[h_i-1, ..., h_1, noise, cond]``; copying those growing concatenations took a third
    of sampling time. Here the hidden outputs are written once into one ``(rows, hidden)``
    buffer, laid out ``[h_L, ..., h_1]`` so that every layer's hidden input is one block of
    it; the noise terms of all layers are one product; the condition, a one-hot over the
    label's ``class_slots``, enters as a per-class bias; eval-mode BatchNorm is folded into the
    weights. The output is ``(data_dim, rows)``: each span is then a contiguous
    ``(width, rows)`` block, which the per-span reductions of :func:`draw_spans` read at full
    vector width (MKL's products were fastest in these layouts, measured). Values equal
    ``generator(noise, cond).T`` up to float rounding.

    ``dtype`` is the products' precision: bf16 where training ran in bf16 (hardware that
    multiplies it natively, where it is about twice as fast here); the output is fp32 either way.
    ``class_bias`` ``(data_dim, classes)``, if given, is added to each class's outputs (the
    categorical tilt, :mod:`augment.tabular.tilting`): it costs nothing, being part of the
    per-class bias.
    """

    def __init__(
        self,
        generator: Generator,
        class_slots: torch.Tensor,
        dtype: torch.dtype = torch.float32,
        class_bias: torch.Tensor | None = None,
    ) -> None:
        blocks = generator.residuals()
        linears = [block.fc for block in blocks] + [generator.head]
        weights, biases = [], []
        for i, linear in enumerate(linears):
            weight, bias = linear.weight.detach().float(), linear.bias.detach().float()
            if i < len(blocks):
                weight, bias = _fold_batch_norm(weight, bias, blocks[i].bn)
            weights.append(weight)
            biases.append(bias)
        widths = [len(w) for w in weights]  # h_1, ..., h_L, output
        offsets, position = {}, 0
        for i in reversed(range(len(blocks))):  # buffer columns [h_L, ..., h_1]
            offsets[i], position = position, position + widths[i]
        self.slots = [slice(offsets[i], offsets[i] + widths[i]) for i in range(len(blocks))]
        noise_dim, slots = generator.noise_dim, class_slots.cpu()

        def input_terms(i: int) -> torch.Tensor:
            """Layer i's weights on [noise, one_hot(class)], its bias in the class columns."""
            seen = sum(widths[:i])  # weight columns: [h_i-1, ..., h_1 | noise | cond]
            noise = weights[i][:, seen : seen + noise_dim]
            return torch.cat(
                [noise, weights[i][:, seen + noise_dim + slots] + biases[i][:, None]], 1
            )

        terms = [input_terms(i) for i in reversed(range(len(blocks)))]
        # (noise_dim + classes, hidden): [noise, one_hot] -> every hidden layer's input terms.
        inputs = noise_dim + len(slots)
        self.input_hidden = torch.cat(terms).T.contiguous() if terms else torch.zeros(inputs, 0)
        self.input_output = input_terms(len(blocks)).contiguous()
        if class_bias is not None:
            self.input_output[:, noise_dim:] += class_bias.to(self.input_output)
        self.hidden_weights = [
            weights[i][:, : sum(widths[:i])].T.contiguous() for i in range(len(blocks))
        ]
        self.output_weight = weights[-1][:, : sum(widths[:-1])].contiguous()
        self.noise_dim, self.classes = noise_dim, len(slots)
        self.to(dtype=dtype)

    def __call__(self, noise: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Raw outputs ``(data_dim, rows)``, fp32, for ``noise`` ``(rows, noise_dim)`` and
        class indices ``classes`` ``(rows,)``."""
        one_hot = nn.functional.one_hot(classes, self.classes)
        inputs = torch.cat([noise, one_hot.to(noise.dtype)], 1).to(self.dtype)
        out = self.input_output @ inputs.T
        if self.slots:
            buffer = inputs @ self.input_hidden
            for i, weight in enumerate(self.hidden_weights):
                hidden = buffer[:, self.slots[i]]
                if i:  # h_i-1, ..., h_1: the columns from h_i-1's start to the buffer's end
                    hidden.addmm_(buffer[:, self.slots[i - 1].start :], weight)
                hidden.relu_()
            out.addmm_(self.output_weight, buffer.T)
        return out.float()

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> SamplingNetwork:
        """Move the weights to ``device`` and/or cast them to ``dtype``, in place."""
        for name in ("input_hidden", "input_output", "output_weight"):
            setattr(self, name, getattr(self, name).to(device=device, dtype=dtype))
        self.hidden_weights = [w.to(device=device, dtype=dtype) for w in self.hidden_weights]
        return self

    @property
    def dtype(self) -> torch.dtype:
        """The products' precision: the weights'."""
        return self.input_output.dtype


def draw_spans(
    raw: torch.Tensor,
    layout: SpanLayout,
    classes: torch.Tensor,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded draws from raw outputs ``(data_dim, rows)``: the ``tanh`` scalars
    ``(value spans, rows)`` and each one-hot span's category ``(choice spans, rows)``, the
    label's being ``classes``.

    Training feeds Gumbel-softmax samples to the critic; the decoder keeps only their argmax,
    which is a draw from ``softmax(raw)`` whatever the temperature. So a draw here is one
    uniform per span against the span's cumulative ``exp``: no Gumbel noise per slot, no
    softmax, no argmax (slow over short spans on the CPU), the same distribution.
    """
    rows = raw.shape[1]
    values = torch.tanh(raw[layout.value_rows])
    uniform = torch.rand(len(layout.choice_spans), rows, generator=generator, device=raw.device)
    choices = torch.empty(len(layout.choice_spans), rows, dtype=torch.int64, device=raw.device)
    for k, (start, stop) in enumerate(layout.choice_spans):
        if k == layout.label_choice:
            choices[k] = classes
            continue
        logits = raw[start:stop]
        cumulative = (logits - logits.amax(0)).exp_().cumsum_(0)
        # Category = how many cumulative weights lie below u * total (at most width - 1).
        torch.sum(cumulative[:-1] < uniform[k].mul_(cumulative[-1]), 0, out=choices[k])
    return values, choices


def _fold_batch_norm(
    weight: torch.Tensor, bias: torch.Tensor, norm: nn.BatchNorm1d
) -> tuple[torch.Tensor, torch.Tensor]:
    """``norm(x @ weight.T + bias)`` in eval mode as one affine map."""
    scale = norm.weight.detach().float() / torch.sqrt(norm.running_var.float() + norm.eps)
    shift = norm.bias.detach().float() - norm.running_mean.float() * scale
    return weight * scale[:, None], bias * scale + shift


class _Dropout(nn.Module):
    """Inverted dropout from a uniform draw: 3x faster than ``nn.Dropout`` on the CPU, whose
    Bernoulli sampler dominates at these sizes; the same thing mathematically.

    The uniforms are fp32 whatever ``x`` is: under bf16 autocast ``rand_like(x)`` drew them in
    bf16, 30% slower on the CPU (74 against 50 us for a (100, 256) mask) and with 8 bits of
    resolution for comparing against ``p``."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.rand(x.shape, device=x.device).ge_(self.p).mul_(1 / (1 - self.p))
        return x * keep.to(x.dtype)


class Discriminator(nn.Module):
    """A critic over packs of ``pac`` rows (PacGAN); the batch must be a multiple of ``pac``."""

    def __init__(
        self,
        input_dim: int,
        hidden: Sequence[int] = (256, 256),
        pac: int = 10,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim * pac
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2), _Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)
        self.input_dim = input_dim
        self.pac = pac

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, self.pac * self.input_dim))


class LabelClassifier(nn.Module):
    """Predicts the label from an encoded row's other columns: ``visible`` is 1 on the matrix
    columns it may read, 0 on the label's. Rows may carry more columns after the matrix's (the
    critic's condition vector): they are ignored."""

    def __init__(
        self,
        visible: torch.Tensor,
        classes: int,
        hidden: Sequence[int],
        dropout: float,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = len(visible)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2), _Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)
        self.register_buffer("visible", visible.float().clone(), persistent=False)

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.net(rows[:, : len(self.visible)] * self.visible)


def activate(
    raw: torch.Tensor,
    layout: SpanLayout,
    tau: float = 0.2,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """tanh on scalar columns, Gumbel-softmax on every one-hot span, in a fixed number of ops.

    Softmax spans are gathered into a few padded ``(batch, spans, width)`` blocks, one per group
    of similar widths (padding masked by a -1e9 bias): the number of ops does not grow with the
    number of columns.
    """
    # fp32 even under bf16 autocast: bf16 has 256 levels in [0.5, 1), too coarse for the noise.
    raw = raw.float()
    # Gumbel noise per matrix column (not per padded slot): -log(-log(U)), U ~ uniform.
    uniform = torch.rand(raw.shape, generator=generator, device=raw.device)
    gumbel = -torch.log(-torch.log(uniform.clamp_(1e-10, 1 - 1e-7)))
    noisy = (raw + gumbel) / tau
    blocks = [
        torch.softmax(
            noisy.index_select(1, index.flatten()).view(len(raw), *index.shape) + bias, -1
        )
        for index, bias in zip(layout.soft_index, layout.soft_bias, strict=True)
    ]
    # tanh on the scalar columns only: on all of them it was a tenth of this function's time.
    values = torch.tanh(raw.index_select(1, layout.value_rows))
    return torch.cat([values, *(b.flatten(1) for b in blocks)], 1).index_select(1, layout.assemble)


def condition_loss(
    raw: torch.Tensor, layout: SpanLayout, column: torch.Tensor, category: torch.Tensor
) -> torch.Tensor:
    """Cross-entropy of each row's conditioned span (``column``) against its ``category``."""
    logits = raw.gather(1, layout.cond_index[column]) + layout.cond_bias[column]
    return nn.functional.cross_entropy(logits, category)
