"""Hidden checks of lesson 00: count_parameters and model_size_bytes."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from compress_course.checks import (
    call,
    expect_value_error,
    partly_frozen_model,
    shared_weight_model,
)
from compress_course.i18n import _

NOTEBOOK = "00_baseline"


@pytest.fixture(scope="module")
def nb(submission):
    return submission.load(NOTEBOOK)


def reference_count(model, trainable_only=False):
    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def random_mlp(sizes, bias):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b, bias=bias), nn.ReLU()]
    return nn.Sequential(*layers)


layer_sizes = st.lists(st.integers(1, 40), min_size=2, max_size=5)


@pytest.mark.exercise("count_parameters", points=2, check="main property", weight=2)
@given(sizes=layer_sizes, bias=st.booleans())
def test_count_parameters_matches_reference(nb, sizes, bias):
    model = random_mlp(sizes, bias)
    got = call(nb.count_parameters, model)
    expected = reference_count(model)
    assert got == expected, (_("count_parameters(MLP with layer sizes {sizes}, bias={bias}) "
                               "returned {got}; expected {expected}.").format(
                                 sizes=sizes, bias=bias, got=got, expected=expected))
    assert isinstance(got, int), _("count_parameters returned a {got_type}; expected int.").format(
                                     got_type=type(got).__name__)


@pytest.mark.exercise("count_parameters", points=2, check="shared parameters and buffers",
                      weight=1)
def test_count_parameters_shared_and_buffers(nb):
    got = call(nb.count_parameters, shared_weight_model())
    assert got == 32, (_("count_parameters(two Linear(4, 4) sharing one weight + BatchNorm1d(4)) "
                         "returned {got}; expected 32 (shared weight once, buffers never).").format(
                           got=got))
    bn = nn.BatchNorm2d(7)
    got = call(nb.count_parameters, bn)
    assert got == 14, _("count_parameters(BatchNorm2d(7)) returned {got}; expected 14 (buffers excluded).").format(
                          got=got)
    assert call(nb.count_parameters, nn.ReLU()) == 0, _("count_parameters(ReLU()) should be 0.")


@pytest.mark.exercise("count_parameters", points=2, check="trainable_only", weight=1)
@given(frozen=st.lists(st.booleans(), min_size=3, max_size=3))
def test_count_parameters_trainable_only(nb, frozen):
    model = nn.Sequential(nn.Linear(6, 5), nn.Linear(5, 4), nn.Conv2d(3, 2, 3))
    for layer, is_frozen in zip(model, frozen, strict=True):
        layer.weight.requires_grad_(not is_frozen)
    expected = reference_count(model, trainable_only=True)
    got = call(nb.count_parameters, model, trainable_only=True)
    assert got == expected, (_("count_parameters(model with frozen weights {frozen}, "
                               "trainable_only=True) returned {got}; expected {expected}.").format(
                                 frozen=frozen, got=got, expected=expected))
    got_all = call(nb.count_parameters, model)
    assert got_all == reference_count(model), (
        _("count_parameters(model with frozen weights {frozen}) returned {got_all}; expected "
          "{n_params}: without trainable_only every parameter counts.").format(
            frozen=frozen, got_all=got_all, n_params=reference_count(model)))
    assert call(nb.count_parameters, partly_frozen_model(), trainable_only=True) == 18


@pytest.mark.exercise("model_size_bytes", points=2, check="main property", weight=2)
@given(sizes=layer_sizes, bits=st.integers(1, 64))
def test_model_size_bytes_rounds_up(nb, sizes, bits):
    model = random_mlp(sizes, bias=True)
    expected = math.ceil(reference_count(model) * bits / 8)
    got = call(nb.model_size_bytes, model, bits=bits)
    assert got == expected, (_("model_size_bytes(MLP with {n_params} parameters, "
                               "bits={bits}) returned {got}; expected {expected}.").format(
                                 n_params=reference_count(model), bits=bits, got=got,
                                 expected=expected))


@pytest.mark.exercise("model_size_bytes", points=2, check="edge cases", weight=1)
def test_model_size_bytes_default_shared_and_frozen(nb):
    model = shared_weight_model()
    got = call(nb.model_size_bytes, model)
    assert got == 128, (_("model_size_bytes(shared-weight model with 32 parameters) returned {got}; "
                          "expected 128 (32-bit default, shared weight stored once).").format(
                            got=got))
    model = nn.Linear(10, 10)
    model.weight.requires_grad_(False)
    got = call(nb.model_size_bytes, model, bits=8)
    assert got == 110, (_("model_size_bytes(Linear(10, 10) with a frozen weight, bits=8) returned "
                          "{got}; expected 110: frozen parameters are stored too.").format(got=got))
    assert torch.is_tensor(next(nn.Linear(2, 2).parameters()))


@pytest.mark.exercise("model_size_bytes", points=2, check="errors", weight=1)
def test_model_size_bytes_rejects_bits_below_one(nb):
    for bits in (0, -4):
        expect_value_error(nb.model_size_bytes, nn.Linear(2, 2), bits=bits, argument="bits")
