"""Visible checks of lesson 00 (baseline): ``count_parameters`` and ``model_size_bytes``."""

from __future__ import annotations

import math

from torch import nn

from . import call, expect, expect_value_error, visible_check

__all__ = ["check_count_parameters", "check_model_size_bytes", "shared_weight_model",
           "partly_frozen_model"]


def shared_weight_model() -> nn.Module:
    """Two Linear layers that share one weight (and a BatchNorm whose buffers don't count).

    Parameters: the shared 4x4 weight (16, counted once) + two biases (4 + 4) + the
    BatchNorm's weight and bias (4 + 4) = 32.
    """
    first, second = nn.Linear(4, 4), nn.Linear(4, 4)
    second.weight = first.weight
    return nn.Sequential(first, nn.ReLU(), second, nn.BatchNorm1d(4))


def partly_frozen_model() -> nn.Module:
    """Linear(10, 5) frozen (55 parameters) then Linear(5, 3) trainable (18 parameters)."""
    model = nn.Sequential(nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 3))
    for p in model[0].parameters():
        p.requires_grad_(False)
    return model


@visible_check
def check_count_parameters(count_parameters) -> int:
    cases = [
        (nn.Linear(3, 2), {}, 8, "3*2 weights + 2 biases"),
        (nn.Linear(3, 2, bias=False), {}, 6, "no bias"),
        (nn.Conv2d(2, 4, 3), {}, 2 * 4 * 9 + 4, "2*4*3*3 weights + 4 biases"),
        (shared_weight_model(), {}, 32,
         "a weight shared by two layers counts once; BatchNorm buffers are not parameters"),
        (partly_frozen_model(), {}, 73, "all parameters, frozen or not"),
        (partly_frozen_model(), {"trainable_only": True}, 18,
         "only parameters with requires_grad=True"),
        (nn.ReLU(), {}, 0, "a module without parameters"),
    ]
    for model, kwargs, expected, why in cases:
        got = call(count_parameters, model, **kwargs)
        expect(isinstance(got, int) and not isinstance(got, bool),
               f"count_parameters({model!r}) returned {got!r} of type {type(got).__name__}; "
               "expected a Python int (use int(...) or .numel()).")
        options = ", trainable_only=True" if kwargs else ""
        expect(got == expected,
               f"count_parameters({type(model).__name__} ...{options}) returned {got}; "
               f"expected {expected} ({why}).")
    return len(cases)


@visible_check
def check_model_size_bytes(model_size_bytes) -> int:
    model = nn.Linear(3, 2)  # 8 parameters
    cases = [(32, 32), (16, 16), (8, 8), (4, 4), (3, 3), (1, 1)]
    for bits, expected in cases:
        got = call(model_size_bytes, model, bits=bits)
        expect(got == expected,
               f"model_size_bytes(Linear(3, 2) with 8 parameters, bits={bits}) returned "
               f"{got!r}; expected {expected} (8 * {bits} bits = {8 * bits} bits).")
    odd = nn.Linear(2, 1)  # 3 parameters
    got = call(model_size_bytes, odd, bits=3)
    expect(got == math.ceil(9 / 8),
           f"model_size_bytes(Linear(2, 1) with 3 parameters, bits=3) returned {got!r}; "
           "expected 2 (9 bits round up to 2 whole bytes).")
    got = call(model_size_bytes, shared_weight_model())
    expect(got == 32 * 4,
           f"model_size_bytes(two Linear layers sharing a weight, 32 parameters) returned "
           f"{got!r}; expected 128: a shared weight is stored once.")
    expect_value_error(model_size_bytes, odd, bits=0, argument="bits")
    return len(cases) + 3
