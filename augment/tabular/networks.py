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
        x = torch.cat([noise, cond], dim=1)
        device = x.device.type
        if torch.is_autocast_enabled(device):
            # In the products' dtype from the start: each block's input would be cast to it
            # anyway, and an fp32 input made every concatenation fp32, cast again per layer.
            x = x.to(torch.get_autocast_dtype(device))
        return self.net(x)

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
    """Inverted dropout from 16-bit random lanes: 2-3x faster than ``nn.Dropout`` or a uniform
    draw on the CPU, where drawing the randomness is most of dropout's cost.

    Each 64-bit random word gives four 16-bit lanes (a view, no unpacking), one per element; an
    element is kept when its lane is at least ``p`` of the way up, so ``p`` is applied to
    within 2^-16. ``torch.rand`` spent one 32-bit draw per element (62 against 23 us for a
    (500, 64) mask, measured)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self._threshold = float(round(p * 65536) - 32768)  # on the signed lanes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        lanes = random_int16(x.numel(), x.device).view(x.shape)
        keep = lanes.float().ge_(self._threshold).mul_(1 / (1 - self.p))
        return x * keep.to(x.dtype)


def random_int16(count: int, device: torch.device) -> torch.Tensor:
    """``count`` uniform random int16 values from the global generator: int64 words viewed as
    lanes (their full range: ``random_()`` alone leaves each word's top bit 0)."""
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device)
    return words.random_(-(2**63), 2**63 - 1).view(torch.int16)[:count]


class _CastOnceLinear(nn.Linear):
    """``nn.Linear`` whose weight, under autocast, is cast once per optimiser step.

    Autocast caches a weight's cast only within one autocast region, and not at all for a
    weight that does not require grad, so a critic used in the D-step and the G-step cast its
    weights in both (its first layer is 256 x 2,900 on Adult: 0.2 ms a cast), though they
    change only at D's optimiser step. Here the cast, made with its graph to the weight, is
    kept until the weight changes: an optimiser step (:func:`drop_casts_on_step`; a fused
    step does not bump the version counter), any other in-place write (the version counter), or
    ``requires_grad`` flipping. A step whose backward must not reach these weights passes its
    own ``inputs=`` to ``backward`` rather than turning ``requires_grad`` off."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features)
        self._cast: torch.Tensor | None = None
        self._cast_key: tuple[int, torch.dtype, bool] | None = None

    def drop_cast(self) -> None:
        self._cast = self._cast_key = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = x.device.type
        if not torch.is_autocast_enabled(device):
            return super().forward(x)
        key = (self.weight._version, torch.get_autocast_dtype(device), self.weight.requires_grad)
        cast = self._cast
        # A cast made without its graph (under no_grad) cannot pass gradients on.
        graphless = cast is not None and cast.grad_fn is None and key[2] and torch.is_grad_enabled()
        if cast is None or self._cast_key != key or graphless:
            cast = self._cast = self.weight.to(key[1])
            self._cast_key = key
        return nn.functional.linear(x, cast, self.bias)


def drop_casts_on_step(optimizer: torch.optim.Optimizer, module: nn.Module) -> None:
    """Make every step of ``optimizer`` drop the weight casts of ``module``'s layers."""
    layers = [m for m in module.modules() if isinstance(m, _CastOnceLinear)]

    def drop(*_: object) -> None:
        for layer in layers:
            layer.drop_cast()

    optimizer.register_step_post_hook(drop)


def _leaky_mlp(width: int, hidden: Sequence[int], out: int, dropout: float) -> nn.Sequential:
    """Linear, LeakyReLU 0.2 and dropout per hidden layer, then a linear head: the critic's and
    the label classifier's layers, their weights cast once per optimiser step."""
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [_CastOnceLinear(width, size), nn.LeakyReLU(0.2), _Dropout(dropout)]
        width = size
    layers.append(_CastOnceLinear(width, out))
    return nn.Sequential(*layers)


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
        self.net = _leaky_mlp(input_dim * pac, hidden, 1, dropout)
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
        self.net = _leaky_mlp(len(visible), hidden, classes, dropout)
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
