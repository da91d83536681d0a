"""Visible checks of lesson 04 (low rank): ``low_rank_factors``, ``rank_for_energy``,
``factorize_linear`` and ``factorize_conv``.

The checks never build a factorization themselves: they test properties that only a
correct one has (the Eckart-Young error computed from ``torch.linalg.svdvals``, exactness
at full rank, the layers' structure), so the package holds no answer.
"""

from __future__ import annotations

import torch
from torch import nn

from ..i18n import _
from . import CheckFailure, call, describe, expect, expect_value_error, part, seeded, visible_check

__all__ = ["check_low_rank_factors", "check_rank_for_energy", "check_factorize_linear",
           "check_factorize_conv", "eckart_young_error", "composite_weight",
           "check_factorized_structure", "training_leaves_original"]


def eckart_young_error(W: torch.Tensor, rank: int) -> float:
    """``sqrt(sum_{i > rank} sigma_i**2)``: the smallest Frobenius error of any rank-``rank``
    approximation of the matrix ``W`` (computed in float64)."""
    sigma = torch.linalg.svdvals(W.detach().double())
    return sigma[rank:].square().sum().sqrt().item()


def composite_weight(factorized: nn.Sequential) -> torch.Tensor:
    """The single weight the two layers of a factorization multiply to, in float64.

    Linear: ``second.weight @ first.weight`` (``[out, in]``). Conv: the 1x1 conv's
    ``[C_out, r]`` matrix times the first conv's filters flattened to ``[r, C_in*kh*kw]``,
    reshaped to the conv weight shape ``[C_out, C_in, kh, kw]``.
    """
    first, second = factorized[0], factorized[1]
    w1, w2 = first.weight.detach().double(), second.weight.detach().double()
    if isinstance(first, nn.Conv2d):
        product = w2.reshape(w2.shape[0], -1) @ w1.reshape(w1.shape[0], -1)
        return product.reshape(w2.shape[0], *w1.shape[1:])
    return w2 @ w1


def check_factorized_structure(result, original: nn.Module, rank: int, call_text: str) -> None:
    """Fail unless ``result`` is ``Sequential(first, second)`` shaped like the contract says,
    trainable, in ``original``'s dtype, and sharing no storage with ``original``."""
    kind = type(original)
    expect(isinstance(result, nn.Sequential) and len(result) == 2 and
           all(isinstance(m, kind) for m in result),
           _("{call_text} returned {result}; expected nn.Sequential of two {kind} layers.").format(
             call_text=call_text, result=describe(result), kind=kind.__name__))
    first, second = result
    expect(first.bias is None,
           _("{call_text}: the first layer has a bias; it must be created with bias=False (the "
             "original bias goes to the second layer).").format(call_text=call_text))
    expect((second.bias is None) == (original.bias is None),
           (_("{call_text}: the second layer has a bias but the original has none; use "
              "bias=layer.bias is not None.") if second.bias is not None else
            _("{call_text}: the second layer lacks a bias but the original has; use "
              "bias=layer.bias is not None.")).format(call_text=call_text))
    for layer in (first, second):
        for name, p in layer.named_parameters():
            expect(p.dtype == original.weight.dtype,
                   _("{call_text}: {name} of {layer!r} has dtype {p_dtype}; expected "
                     "{original_weight_dtype}, the original layer's dtype.").format(
                     call_text=call_text, name=name, layer=layer, p_dtype=p.dtype,
                     original_weight_dtype=original.weight.dtype))
            expect(p.requires_grad,
                   _("{call_text}: {name} of {layer!r} does not require grad; the new layers "
                     "must be trainable so they can be fine-tuned.").format(
                     call_text=call_text, name=name, layer=layer))
            for q in original.parameters():
                expect(p.untyped_storage().data_ptr() != q.untyped_storage().data_ptr(),
                       _("{call_text}: {name} of {layer!r} shares memory with the original "
                         "layer, so fine-tuning would change the original; copy the numbers "
                         "(e.g. weight.copy_(...) under torch.no_grad()).").format(
                         call_text=call_text, name=name, layer=layer))


def _run(result: nn.Module, x: torch.Tensor, call_text: str, grad: bool = False):
    """``result(x)``, with any error turned into a sentence for the learner."""
    try:
        with torch.set_grad_enabled(grad):
            return result(x)
    except Exception as error:
        raise CheckFailure(_("{call_text}: calling the result on an input of shape {x_shape} "
                             "({x_dtype}) raised {error_type}: {error}").format(
                             call_text=call_text, x_shape=tuple(x.shape), x_dtype=x.dtype,
                             error_type=type(error).__name__, error=error)) from error


def _expect_two_layers(result, kind: type, call_text: str) -> None:
    expect(isinstance(result, nn.Sequential) and len(result) == 2 and
           all(isinstance(m, kind) for m in result),
           _("{call_text} returned {result}; expected nn.Sequential of two {kind} layers.").format(
             call_text=call_text, result=describe(result), kind=kind.__name__))


def training_leaves_original(original: nn.Module, factorized: nn.Module,
                             x: torch.Tensor) -> bool:
    """One SGD step on ``factorized``; True if ``original``'s parameters did not change."""
    before = [p.detach().clone() for p in original.parameters()]
    optimizer = torch.optim.SGD(factorized.parameters(), lr=0.1)
    factorized(x).square().sum().backward()
    optimizer.step()
    return all(torch.equal(b, p.detach())
               for b, p in zip(before, original.parameters(), strict=True))


def _check_error_is_optimal(product: torch.Tensor, W: torch.Tensor, rank: int,
                            call_text: str) -> None:
    got = torch.linalg.matrix_norm(W.detach().double() - product.double()).item()
    best = eckart_young_error(W, rank)
    scale = torch.linalg.matrix_norm(W.detach().double()).item() + 1e-12
    tol = (1e-4 if W.dtype == torch.float32 else 1e-9) * scale
    expect(abs(got - best) <= tol,
           _("{call_text}: ||W - A @ B|| = {got:.6g}, but the best rank-{rank} error is "
             "{best:.6g} (sqrt of the sum of the squared singular values after the first "
             "{rank}); keep the {rank} LARGEST singular values and scale by them.").format(
             call_text=call_text, got=got, rank=rank, best=best))



@visible_check
def check_low_rank_factors(low_rank_factors) -> int:
    generator = torch.Generator().manual_seed(4)
    deficient = torch.randn(7, 2, generator=generator) @ torch.randn(2, 5, generator=generator)
    main = [
        (torch.randn(6, 4, generator=generator), 2),
        (torch.randn(3, 8, generator=generator, dtype=torch.float64), 1),
        (deficient, 2),
    ]
    edge = [
        (torch.randn(5, 5, generator=generator), 5),
        (torch.randn(4, 6, generator=generator, dtype=torch.float64), 4),
        (torch.arange(1.0, 8.0).reshape(1, 7), 1),
        (torch.arange(1.0, 8.0).reshape(7, 1), 1),
        (torch.tensor([[3.0]]), 1),
    ]

    def run(W, rank, exact=False):
        call_text = _("low_rank_factors({W}, rank={rank})").format(W=describe(W), rank=rank)
        result = call(low_rank_factors, W, rank)
        expect(isinstance(result, tuple) and len(result) == 2,
               _("{call_text} returned {result}; expected a tuple (A, B).").format(
                 call_text=call_text, result=describe(result)))
        A, B = result
        m, n = W.shape
        expect(tuple(A.shape) == (m, rank) and tuple(B.shape) == (rank, n),
               _("{call_text} returned A of shape {A_shape} and B of shape {B_shape}; expected "
                 "{A_expected} and {B_expected}.").format(
                 call_text=call_text, A_shape=tuple(A.shape), B_shape=tuple(B.shape),
                 A_expected=(m, rank), B_expected=(rank, n)))
        expect(A.dtype == W.dtype and B.dtype == W.dtype,
               _("{call_text} returned dtypes {A_dtype}, {B_dtype}; expected {W_dtype}.").format(
                 call_text=call_text, A_dtype=A.dtype, B_dtype=B.dtype, W_dtype=W.dtype))
        _check_error_is_optimal(A.detach() @ B.detach(), W, rank, call_text)
        if exact:
            gap = (A.detach() @ B.detach() - W.detach()).abs().max().item()
            expect(gap <= 1e-4 * (1 + W.detach().abs().max().item()),
                   _("{call_text} is full rank, so A @ B must reproduce W; the largest "
                     "difference is {gap:.3g}.").format(call_text=call_text, gap=gap))

    with part("main property"):
        for W, rank in main:
            run(W, rank)
    with part("edge cases"):
        for W, rank in edge:
            run(W, rank, exact=True)
        weight = nn.Linear(5, 3).weight  # a Parameter that requires grad
        run(weight, 2)
    with part("errors"):
        for shape, bad in (((4, 6), 0), ((4, 6), -1), ((4, 6), 5), ((6, 4), 5)):
            expect_value_error(low_rank_factors, torch.zeros(shape), bad, argument="rank")
        for bad_W in (torch.ones(5), torch.ones(2, 3, 4)):
            expect_value_error(low_rank_factors, bad_W, 1, argument="W")
    return len(main) + len(edge) + 1 + 6


@visible_check
def check_rank_for_energy(rank_for_energy) -> int:
    s = torch.tensor([4.0, 3.0, 2.0, 1.0])  # squares 16, 9, 4, 1 of 30
    main = [
        (s, 0.5, 1, _("16/30 = 53% >= 50% with r = 1 (energy uses SQUARED singular values)")),
        (s, 0.8, 2, _("(16 + 9)/30 = 83% >= 80%")),
        (s.double(), 0.9, 3, _("(16 + 9 + 4)/30 = 97% >= 90% (float64 input)")),
    ]
    edge = [
        (s, 0.0, 1, _("energy 0 still keeps one singular value")),
        (s, 1.0, 4, _("all the energy needs all four")),
        (torch.ones(4), 0.5, 2, _("equal values: exactly half at r = 2, and 'at least' means >=")),
        (torch.tensor([2.0, 0.0, 0.0]), 1.0, 1,
         _("zero singular values hold no energy, so r = 1 already holds all of it")),
        (torch.zeros(3), 0.7, 1, _("an all-zero matrix: 0 >= 0.7 * 0 already at r = 1")),
    ]
    # seed 2: here the float32 cumulative sum ends just below the float32 total
    generator = torch.Generator().manual_seed(2)
    sigma = torch.linalg.svdvals(torch.randn(300, 100, generator=generator))
    edge.append((sigma, 1.0, 100, _("energy 1 on 100 float32 singular values must not run past "
                                    "the end when a float sum comes out slightly below the "
                                    "total")))

    def run(cases):
        for values, energy, expected, why in cases:
            got = call(rank_for_energy, values, energy)
            expect(isinstance(got, int) and not isinstance(got, bool),
                   _("rank_for_energy({values}, energy={energy}) returned {got!r} of type "
                     "{got_type}; expected a Python int.").format(
                     values=describe(values), energy=energy, got=got, got_type=type(got).__name__))
            expect(got == expected,
                   _("rank_for_energy({values}, energy={energy}) returned {got}; expected "
                     "{expected} ({why}).").format(
                     values=describe(values), energy=energy, got=got, expected=expected, why=why))

    with part("main property"):
        run(main)
    with part("edge cases"):
        run(edge)
    bad_values = [torch.tensor([1.0, 3.0, 2.0]), torch.tensor([1.0, 2.0, 3.0]),
                  torch.tensor([3.0, -1.0]), torch.tensor([]), torch.ones(2, 2)]
    with part("errors"):
        for energy in (-0.1, 1.5):
            expect_value_error(rank_for_energy, s, energy, argument="energy")
        for values in bad_values:
            expect_value_error(rank_for_energy, values, 0.5, argument="singular_values")
    return len(main) + len(edge) + 2 + len(bad_values)


@visible_check
@seeded(1)
def check_factorize_linear(factorize_linear) -> int:
    cases = [(nn.Linear(6, 5), 2), (nn.Linear(4, 7, bias=False), 3), (nn.Linear(8, 3), 3),
             (nn.Linear(5, 5).double(), 1)]
    with part("layer structure"):
        for layer, rank in cases:
            call_text = _("factorize_linear({layer!r}, rank={rank})").format(
                          layer=layer, rank=rank)
            result = call(factorize_linear, layer, rank)
            check_factorized_structure(result, layer, rank, call_text)
            first, second = result
            expect((first.in_features, first.out_features, second.in_features,
                    second.out_features) == (layer.in_features, rank, rank, layer.out_features),
                   _("{call_text} returned {first!r} then {second!r}; expected "
                     "Linear({layer_in_features}, {rank}) then Linear({rank}, "
                     "{layer_out_features}).").format(
                     call_text=call_text, first=first, second=second,
                     layer_in_features=layer.in_features, rank=rank,
                     layer_out_features=layer.out_features))
            x = torch.randn(3, layer.in_features, dtype=layer.weight.dtype)
            _run(result, x, call_text)
            expect(training_leaves_original(layer, result, x),
                   _("{call_text}: a training step on the result changed the original layer; "
                     "the new layers must own copies of the numbers.").format(call_text=call_text))
    with part("main property"):
        for layer, rank in cases:
            call_text = _("factorize_linear({layer!r}, rank={rank})").format(
                          layer=layer, rank=rank)
            result = call(factorize_linear, layer, rank)
            _expect_two_layers(result, nn.Linear, call_text)
            _check_error_is_optimal(composite_weight(result), layer.weight, rank, call_text)
            x = torch.randn(3, layer.in_features, dtype=layer.weight.dtype)
            with torch.no_grad():
                expected = x.double() @ composite_weight(result).T
                if layer.bias is not None:
                    expected += layer.bias.double()
            got = _run(result, x, call_text).double()
            expect(got.shape == expected.shape,
                   _("{call_text}: on input of shape {x_shape} the output has shape "
                     "{got_shape}; expected {expected_shape}.").format(
                     call_text=call_text, x_shape=tuple(x.shape), got_shape=tuple(got.shape),
                     expected_shape=tuple(expected.shape)))
            expect(torch.allclose(got, expected, atol=1e-4),
                   _("{call_text}: the output differs from x @ (A @ B).T + bias by {difference:.3g}; "
                     "is the original bias on the second layer?").format(
                     call_text=call_text, difference=(got - expected).abs().max().item()))
            if rank == min(layer.in_features, layer.out_features):
                with torch.no_grad():
                    gap = (_run(result, x, call_text) - layer(x)).abs().max().item()
                expect(gap < 1e-4, _("{call_text} is full rank, so it must compute what the "
                                     "layer computes; outputs differ by {gap:.3g}.").format(
                                     call_text=call_text, gap=gap))
    with part("errors"):
        for (n_in, n_out), rank in (((4, 6), 0), ((4, 6), 5), ((6, 4), 5), ((6, 4), -2)):
            expect_value_error(factorize_linear, nn.Linear(n_in, n_out), rank, argument="rank")
    return 2 * len(cases) + 4


@visible_check
@seeded(2)
def check_factorize_conv(factorize_conv) -> int:
    cases = [
        (nn.Conv2d(3, 8, 3, padding=1), 4, (9, 9)),
        (nn.Conv2d(2, 5, (3, 2), stride=2, padding=(1, 0), bias=False), 5, (9, 8)),
        (nn.Conv2d(4, 6, 3, dilation=2, stride=(1, 2)), 6, (10, 11)),
        (nn.Conv2d(2, 3, 2, padding=1).double(), 2, (5, 5)),
    ]
    with part("layer structure"):
        for conv, rank, size in cases:
            call_text = _("factorize_conv({conv!r}, rank={rank})").format(conv=conv, rank=rank)
            result = call(factorize_conv, conv, rank)
            check_factorized_structure(result, conv, rank, call_text)
            first, second = result
            expect((first.in_channels, first.out_channels, first.kernel_size, first.stride,
                    first.padding, first.dilation) == (conv.in_channels, rank, conv.kernel_size,
                                                       conv.stride, conv.padding, conv.dilation),
                   _("{call_text} returned first layer {first!r}; expected "
                     "Conv2d({conv_in_channels}, {rank}, kernel_size={conv_kernel_size}, "
                     "stride={conv_stride}, padding={conv_padding}, dilation={conv_dilation}).").format(
                     call_text=call_text, first=first, conv_in_channels=conv.in_channels,
                     rank=rank, conv_kernel_size=conv.kernel_size, conv_stride=conv.stride,
                     conv_padding=conv.padding, conv_dilation=conv.dilation))
            expect((second.in_channels, second.out_channels, second.kernel_size, second.stride,
                    second.padding, second.dilation) == (rank, conv.out_channels, (1, 1), (1, 1),
                                                         (0, 0), (1, 1)),
                   _("{call_text} returned second layer {second!r}; expected a 1x1 "
                     "Conv2d({rank}, {conv_out_channels}, kernel_size=1) with stride 1, no "
                     "padding and no dilation.").format(
                     call_text=call_text, second=second, rank=rank,
                     conv_out_channels=conv.out_channels))
            x = torch.randn(2, conv.in_channels, *size, dtype=conv.weight.dtype)
            _run(result, x, call_text)
            expect(training_leaves_original(conv, result, x),
                   _("{call_text}: a training step on the result changed the original conv; "
                     "the new layers must own copies of the numbers.").format(call_text=call_text))
    with part("main property"):
        for conv, rank, size in cases:
            call_text = _("factorize_conv({conv!r}, rank={rank})").format(conv=conv, rank=rank)
            result = call(factorize_conv, conv, rank)
            _expect_two_layers(result, nn.Conv2d, call_text)
            flat = conv.weight.reshape(conv.out_channels, -1)
            _check_error_is_optimal(composite_weight(result).reshape(conv.out_channels, -1),
                                    flat, rank, call_text)
            x = torch.randn(2, conv.in_channels, *size, dtype=conv.weight.dtype)
            with torch.no_grad():
                expected = nn.functional.conv2d(
                    x.double(), composite_weight(result),
                    None if conv.bias is None else conv.bias.double(),
                    conv.stride, conv.padding, conv.dilation)
            got = _run(result, x, call_text).double()
            expect(got.shape == expected.shape and torch.allclose(got, expected, atol=1e-4),
                   _("{call_text}: on input of shape {x_shape} the output does not match the "
                     "conv with the product weight; check how B is reshaped to [rank, C_in, "
                     "kh, kw] and that the bias is on the second layer.").format(
                     call_text=call_text, x_shape=tuple(x.shape)))
            if rank == min(flat.shape):
                with torch.no_grad():
                    gap = (_run(result, x, call_text) - conv(x)).abs().max().item()
                expect(gap < 1e-4, _("{call_text} is full rank, so it must compute what the "
                                     "conv computes; outputs differ by {gap:.3g}.").format(
                                     call_text=call_text, gap=gap))
    with part("errors"):
        for conv, rank in ((nn.Conv2d(2, 4, 3), 0), (nn.Conv2d(2, 4, 3), 5),
                           (nn.Conv2d(3, 8, (1, 2)), 7)):
            expect_value_error(factorize_conv, conv, rank, argument="rank")
        expect_value_error(factorize_conv, nn.Conv2d(4, 4, 3, groups=2), 2, argument="conv")
    return 2 * len(cases) + 4
