"""Visible checks of lesson 00 (baseline): ``count_parameters`` and ``model_size_bytes``."""

from __future__ import annotations

import math

from torch import nn

from ..i18n import _
from . import call, expect, expect_value_error, part, visible_check

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
    # The parts carry the names the hidden checks give their points to.
    main = [
        (nn.Linear(3, 2), {}, 8, _("3*2 weights + 2 biases")),
        (nn.Linear(3, 2, bias=False), {}, 6, _("no bias")),
        (nn.Conv2d(2, 4, 3), {}, 2 * 4 * 9 + 4, _("2*4*3*3 weights + 4 biases")),
    ]
    shared = [
        (shared_weight_model(), {}, 32,
         _("a weight shared by two layers counts once; BatchNorm buffers are not parameters")),
        (nn.BatchNorm2d(7), {}, 14, _("weight and bias of 7 channels; running statistics are "
                                      "buffers")),
        (nn.ReLU(), {}, 0, _("a module without parameters")),
    ]
    trainable = [
        (partly_frozen_model(), {}, 73, _("all parameters, frozen or not")),
        (partly_frozen_model(), {"trainable_only": True}, 18,
         _("only parameters with requires_grad=True")),
    ]

    def run(cases):
        for model, kwargs, expected, why in cases:
            got = call(count_parameters, model, **kwargs)
            expect(isinstance(got, int) and not isinstance(got, bool),
                   _("count_parameters({model!r}) returned {got!r} of type {got_type}; "
                     "expected a Python int (use int(...) or .numel()).").format(
                     model=model, got=got, got_type=type(got).__name__))
            options = ", trainable_only=True" if kwargs else ""
            expect(got == expected,
                   _("count_parameters({model_type} ...{options}) returned {got}; expected "
                     "{expected} ({why}).").format(
                     model_type=type(model).__name__, options=options, got=got, expected=expected,
                     why=why))

    with part("main property"):
        run(main)
    with part("shared parameters and buffers"):
        run(shared)
    with part("trainable_only"):
        run(trainable)
    return len(main) + len(shared) + len(trainable)


@visible_check
def check_model_size_bytes(model_size_bytes) -> int:
    cases = [(32, 32), (16, 16), (8, 8), (4, 4), (3, 3), (1, 1)]
    with part("main property"):
        model = nn.Linear(3, 2)  # 8 parameters
        for bits, expected in cases:
            got = call(model_size_bytes, model, bits=bits)
            expect(got == expected,
                   _("model_size_bytes(Linear(3, 2) with 8 parameters, bits={bits}) returned "
                     "{got!r}; expected {expected} (8 * {bits} bits = {total_bits} bits).").format(
                     bits=bits, got=got, expected=expected, total_bits=8 * bits))
        odd = nn.Linear(2, 1)  # 3 parameters
        got = call(model_size_bytes, odd, bits=3)
        expect(got == math.ceil(9 / 8),
               _("model_size_bytes(Linear(2, 1) with 3 parameters, bits=3) returned {got!r}; "
                 "expected 2 (9 bits round up to 2 whole bytes).").format(got=got))
    with part("edge cases"):
        got = call(model_size_bytes, shared_weight_model())
        expect(got == 32 * 4,
               _("model_size_bytes(two Linear layers sharing a weight, 32 parameters) returned "
                 "{got!r}; expected 128: bits defaults to 32, and a shared weight is stored "
                 "once.").format(got=got))
        got = call(model_size_bytes, partly_frozen_model(), bits=8)
        expect(got == 73,
               _("model_size_bytes(a model of 73 parameters, 55 of them frozen, bits=8) "
                 "returned {got!r}; expected 73: frozen parameters are stored too.").format(
                 got=got))
    with part("errors"):
        for bits in (0, -4):
            expect_value_error(model_size_bytes, nn.Linear(2, 1), bits=bits, argument="bits")
    return len(cases) + 5
