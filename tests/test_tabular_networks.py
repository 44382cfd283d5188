"""TabGAN's network parts that trade a library call for a cheaper one: they must still be the
same function (dropout's keep rate, the weight casts under autocast)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from augment.tabular.networks import (
    Discriminator,
    _CastOnceLinear,
    _Dropout,
    drop_casts_on_step,
    random_int16,
)

BF16 = {"device_type": "cpu", "dtype": torch.bfloat16}


def test_random_int16_spans_the_whole_range_uniformly():
    torch.manual_seed(0)
    lanes = random_int16(400_001, torch.device("cpu"))
    assert lanes.dtype == torch.int16 and lanes.shape == (400_001,)
    values = lanes.float()
    assert values.min() < -32_700 and values.max() > 32_700  # the top bit of each word is used
    assert abs(values.mean()) < 150  # the mean's standard error is about 30
    assert (lanes < 0).float().mean().item() == pytest.approx(0.5, abs=0.005)
    torch.manual_seed(0)
    assert torch.equal(random_int16(400_001, torch.device("cpu")), lanes)  # seeded


@pytest.mark.parametrize("p", [0.5, 0.2, 0.9])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dropout_keeps_1_minus_p_and_rescales_the_rest(p, dtype):
    dropout = _Dropout(p)
    torch.manual_seed(0)
    out = dropout(torch.ones(500, 400, dtype=dtype))
    assert out.dtype == dtype
    kept = out != 0
    assert kept.float().mean().item() == pytest.approx(1 - p, abs=0.005)
    assert torch.equal(out[kept], torch.full_like(out[kept], 1 / (1 - p)))
    torch.manual_seed(0)
    assert torch.equal(dropout(torch.ones(500, 400, dtype=dtype)), out)
    assert torch.equal(dropout.eval()(out), out)  # off outside training


def _twins() -> tuple[nn.Linear, _CastOnceLinear]:
    torch.manual_seed(0)
    plain = nn.Linear(30, 8)
    cast_once = _CastOnceLinear(30, 8)
    cast_once.load_state_dict(plain.state_dict())
    return plain, cast_once


def test_cast_once_linear_is_linear_under_autocast_and_without():
    plain, cast_once = _twins()
    x = torch.randn(16, 30)
    assert torch.equal(cast_once(x), plain(x))
    with torch.autocast(**BF16):
        out = cast_once(x)
        assert out.dtype == torch.bfloat16 and torch.equal(out, plain(x))
    for layer in (plain, cast_once):
        with torch.autocast(**BF16):
            layer(x).float().square().sum().backward()
    assert torch.equal(cast_once.weight.grad, plain.weight.grad)
    assert torch.equal(cast_once.bias.grad, plain.bias.grad)


def test_cast_once_linear_recasts_after_every_change_of_its_weight():
    plain, cast_once = _twins()
    optimizers = [
        torch.optim.Adam(layer.parameters(), lr=0.1, fused=True) for layer in (plain, cast_once)
    ]
    drop_casts_on_step(optimizers[1], cast_once)
    x = torch.randn(16, 30)
    with torch.autocast(**BF16):
        cast_once(x)
        first = cast_once._cast
    with torch.autocast(**BF16):  # a later autocast region (the next step function)
        cast_once(x)
        assert cast_once._cast is first  # one cast while the weight is unchanged
        for layer in (plain, cast_once):
            layer(x).float().sum().backward()
    for optimizer in optimizers:
        optimizer.step()  # fused: the version counter does not move, the hook drops the cast
    with torch.autocast(**BF16):
        assert torch.equal(cast_once(x), plain(x))
    with torch.no_grad():  # any other in-place write: the version counter
        for layer in (plain, cast_once):
            layer.weight.mul_(2)
    with torch.autocast(**BF16):
        assert torch.equal(cast_once(x), plain(x))


def test_a_cast_made_without_grad_is_not_used_where_grad_must_flow():
    _, cast_once = _twins()
    x = torch.randn(16, 30)
    with torch.autocast(**BF16):
        with torch.no_grad():
            cast_once(x)
        cast_once(x).float().sum().backward()
    assert cast_once.weight.grad is not None and cast_once.weight.grad.abs().sum() > 0


def test_a_cast_from_an_earlier_forward_passes_gradients_to_the_weight():
    """A G-step's forward makes the critic's cast; the next D-step's backward reaches the
    weight through it, while the G-step's own backward (``inputs=``) does not."""
    torch.manual_seed(0)
    critic = Discriminator(6, hidden=(8,), pac=2, dropout=0.0)
    source = torch.randn(4, 6, requires_grad=True)
    with torch.autocast(**BF16):
        critic(source).float().sum().backward(inputs=[source])
        assert all(p.grad is None for p in critic.parameters())
        critic(torch.randn(4, 6)).float().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in critic.parameters())
