"""Visible checks of lesson 02 (quantization).

The cases are small and worked out by hand, or compared with PyTorch's own quantization
operators (``torch.fake_quantize_per_tensor_affine``) at scales that are powers of two, so
that PyTorch's multiply-by-reciprocal and a division round identically.
"""

from __future__ import annotations

import copy
import math

import torch

from ..i18n import _
from . import call, describe, expect, expect_value_error, part, visible_check

__all__ = ["check_affine_qparams", "check_quantize", "check_dequantize",
           "check_symmetric_per_channel_quantize", "check_kmeans_quantize",
           "check_fake_quantize", "check_quantized_linear", "check_calibrate_range",
           "check_qat_step"]


def _is_int_tensor(t) -> bool:
    return isinstance(t, torch.Tensor) and not t.is_floating_point() and not t.is_complex() \
        and t.dtype != torch.bool


@visible_check
def check_affine_qparams(affine_qparams) -> int:
    cases = [
        (torch.tensor([-1.0, 0.0, 2.0]), 8, 3 / 255, 85, _("range [-1, 2]: scale 3/255, zero at 85")),
        (torch.tensor([2.0, 4.0]), 8, 4 / 255, 0,
         _("all positive: the range is widened to [0, 4], so the zero point is 0")),
        (torch.tensor([-3.0, -1.0]), 2, 1.0, 3,
         _("all negative: the range is widened to [-3, 0], so zero sits at the top, q = 3")),
        (torch.tensor([[-0.5, 1.5], [0.25, 0.0]]), 4, 2 / 15, 4,
         _("range [-0.5, 1.5] over 15 steps; zero point round(0.5 / (2/15)) = round(3.75) = 4")),
        (torch.zeros(5), 8, 1.0, 0, _("an all-zero tensor gets scale 1.0 and zero point 0")),
    ]
    def run(x, bits, scale, zero_point, why):
        got = call(affine_qparams, x, bits)
        expect(isinstance(got, tuple) and len(got) == 2,
               _("affine_qparams({x}, bits={bits}) returned {got!r}; expected a tuple (scale, "
                 "zero_point).").format(x=describe(x), bits=bits, got=got))
        got_scale, got_zp = got
        expect(isinstance(got_scale, float),
               _("affine_qparams({x}, bits={bits}) returned a scale of type {got_scale_type}; "
                 "expected a Python float (use .item() / float()).").format(
                 x=describe(x), bits=bits, got_scale_type=type(got_scale).__name__))
        expect(isinstance(got_zp, int) and not isinstance(got_zp, bool),
               _("affine_qparams({x}, bits={bits}) returned a zero point of type "
                 "{got_zp_type}; expected a Python int.").format(
                 x=describe(x), bits=bits, got_zp_type=type(got_zp).__name__))
        expect(math.isclose(got_scale, scale, rel_tol=1e-5) and got_zp == zero_point,
               _("affine_qparams({x}, bits={bits}) returned ({got_scale:.6g}, {got_zp}); "
                 "expected ({scale:.6g}, {zero_point}): {why}.").format(
                 x=describe(x), bits=bits, got_scale=got_scale, got_zp=got_zp, scale=scale,
                 zero_point=zero_point, why=why))

    # The parts carry the names the hidden checks give their points to.
    with part("main property"):
        for case in cases[:-1]:
            run(*case)
    with part("edge cases"):
        run(*cases[-1])
        got_scale, got_zp = call(affine_qparams, torch.full((3,), 5.0), 8)
        expect(math.isclose(got_scale, 5 / 255, rel_tol=1e-5) and got_zp == 0,
               _("affine_qparams(a constant tensor of 5.0, bits=8) returned ({got_scale}, "
                 "{got_zp}); expected (5/255, 0): the range is widened to [0, 5], so the scale "
                 "is positive.").format(got_scale=got_scale, got_zp=got_zp))
        got_scale, got_zp = call(affine_qparams, torch.full((2, 2), -2.0), 1)
        expect(math.isclose(got_scale, 2.0, rel_tol=1e-5) and got_zp == 1,
               _("affine_qparams(a constant tensor of -2.0, bits=1) returned ({got_scale}, "
                 "{got_zp}); expected (2.0, 1): the range [-2, 0] over 2**1 - 1 = 1 step.").format(
                 got_scale=got_scale, got_zp=got_zp))
    with part("errors"):
        for bits in (0, -3):
            expect_value_error(affine_qparams, torch.ones(3), bits, argument="bits")
    return len(cases) + 4


@visible_check
def check_quantize(quantize) -> int:
    ties = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5])
    cases = 0
    with part("main property"):
        generator = torch.Generator().manual_seed(0)
        for bits, scale, zero_point in ((8, 0.125, 100), (4, 0.25, 3), (16, 2.0**-8, 30000),
                                        (1, 0.5, 1)):
            x = torch.randn(6, 7, generator=generator) * 3
            got = call(quantize, x, scale, zero_point, bits)
            expect(_is_int_tensor(got) and got.dtype in (torch.int32, torch.int64)
                   and got.shape == x.shape,
                   _("quantize(x of shape (6, 7), scale={scale}, zero_point={zero_point}, "
                     "bits={bits}) returned {got}; expected an int32 or int64 tensor of shape "
                     "(6, 7).").format(
                     scale=scale, zero_point=zero_point, bits=bits, got=describe(got)))
            reference = torch.fake_quantize_per_tensor_affine(x, scale, zero_point, 0,
                                                              2**bits - 1)
            expected = torch.round(reference / scale).to(torch.int64) + zero_point
            expect(torch.equal(got.to(torch.int64), expected),
                   _("quantize(x of shape (6, 7), scale={scale}, zero_point={zero_point}, "
                     "bits={bits}) differs from torch.fake_quantize_per_tensor_affine at "
                     "{count} positions.").format(
                     scale=scale, zero_point=zero_point, bits=bits,
                     count=int((got.to(torch.int64) != expected).sum())))
            cases += 1
    with part("edge cases"):
        got = call(quantize, ties, 1.0, 3, 8)
        expect(_is_int_tensor(got) and got.tolist() == [3, 5, 5, 3, 1],
               _("quantize({ties}, scale=1.0, zero_point=3, bits=8) returned {got}; expected "
                 "[3, 5, 5, 3, 1]: torch.round rounds halves to the even integer (0.5 -> 0, "
                 "1.5 -> 2, 2.5 -> 2), then the zero point is added.").format(
                 ties=describe(ties), got=describe(got)))
        clip = torch.tensor([-10.0, 0.0, 10.0])
        got = call(quantize, clip, 1.0, 2, 3)
        expect(got.tolist() == [0, 2, 7],
               _("quantize({clip}, scale=1.0, zero_point=2, bits=3) returned {got}; expected "
                 "[0, 2, 7]: values outside the range clamp to 0 and 2**bits - 1 = 7.").format(
                 clip=describe(clip), got=got.tolist()))
        big = torch.tensor([-1e9, 1e9, 0.0, 70000.0])
        got = call(quantize, big, 1.0, 5, 16)
        expect(got.tolist() == [0, 65535, 5, 65535],
               _("quantize({big}, scale=1.0, zero_point=5, bits=16) returned {got}; expected "
                 "[0, 65535, 5, 65535]: clamp to [0, 2**16 - 1] in an int32 or int64 tensor "
                 "(int16 cannot hold 65535).").format(big=big.tolist(), got=got.tolist()))
        cases += 3
    with part("errors"):
        expect_value_error(quantize, ties, 1.0, 0, 0, argument="bits")
        expect_value_error(quantize, ties, 0.0, 0, 8, argument="scale")
        expect_value_error(quantize, ties, -0.5, 0, 8, argument="scale")
    return cases + 3


@visible_check
def check_dequantize(dequantize) -> int:
    with part("main property"):
        q = torch.tensor([0, 3, 255], dtype=torch.int32)
        got = call(dequantize, q, 0.5, 3)
        expect(isinstance(got, torch.Tensor) and got.dtype == torch.float32,
               _("dequantize({q}, scale=0.5, zero_point=3) returned {got}; expected a float32 "
                 "tensor.").format(q=describe(q), got=describe(got)))
        expect(got.tolist() == [-1.5, 0.0, 126.0],
               _("dequantize({q}, scale=0.5, zero_point=3) returned {got}; expected [-1.5, "
                 "0.0, 126.0] = 0.5 * (q - 3).").format(q=describe(q), got=got.tolist()))
        generator = torch.Generator().manual_seed(1)
        x = torch.randn(5, 9, generator=generator)
        q = (torch.round(x / 0.0625) + 7).clamp(0, 255).to(torch.int32)
        got = call(dequantize, q, 0.0625, 7)
        reference = torch.fake_quantize_per_tensor_affine(x, 0.0625, 7, 0, 255)
        expect(isinstance(got, torch.Tensor) and torch.equal(got, reference),
               _("dequantize(quantized randn of shape (5, 9), scale=0.0625, zero_point=7) "
                 "differs from torch.fake_quantize_per_tensor_affine: expected scale * (q - "
                 "zero_point)."))
    with part("storage dtypes"):
        stored = torch.tensor([0, 128, 255], dtype=torch.uint8)
        got = call(dequantize, stored, 0.25, 128)
        expect(isinstance(got, torch.Tensor) and got.dtype == torch.float32
               and got.tolist() == [-32.0, 0.0, 31.75],
               _("dequantize({stored}, scale=0.25, zero_point=128) returned {got}; expected "
                 "float32 [-32.0, 0.0, 31.75]: convert uint8 to a wider integer type before "
                 "subtracting the zero point, or 0 - 128 wraps around.").format(
                 stored=describe(stored), got=describe(got)))
        signed = torch.tensor([-127, 0, 127], dtype=torch.int8)
        got = call(dequantize, signed, 0.25, 100)
        expect(got.tolist() == [-56.75, -25.0, 6.75],
               _("dequantize({signed}, scale=0.25, zero_point=100) returned {got}; expected "
                 "[-56.75, -25.0, 6.75]: widen int8 before subtracting the zero point, or -127 "
                 "- 100 wraps around.").format(signed=describe(signed), got=got.tolist()))
    return 4


@visible_check
def check_symmetric_per_channel_quantize(symmetric_per_channel_quantize) -> int:
    w = torch.tensor([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0], [-3.0, 1.5, 0.0]])
    with part("main property"):
        _check_symmetric_main(symmetric_per_channel_quantize, w)
    with part("errors"):
        for bits in (1, 0):
            expect_value_error(symmetric_per_channel_quantize, w, bits, argument="bits")
    return 7


def _check_symmetric_main(symmetric_per_channel_quantize, w) -> None:
    got = call(symmetric_per_channel_quantize, w, 3)
    expect(isinstance(got, tuple) and len(got) == 2,
           _("symmetric_per_channel_quantize(w, bits=3) returned {got}; expected a tuple (q, "
             "scales).").format(got=describe(got)))
    q, scales = got
    expect(_is_int_tensor(q) and q.shape == w.shape,
           _("symmetric_per_channel_quantize(w of shape (3, 3), bits=3) returned q = {q}; "
             "expected an integer tensor of shape (3, 3).").format(q=describe(q)))
    expect(isinstance(scales, torch.Tensor) and scales.shape == (3,),
           _("symmetric_per_channel_quantize(w of shape (3, 3), bits=3) returned scales = "
             "{scales}; expected one scale per output channel, shape (3,).").format(
             scales=describe(scales)))
    expected_scales = [1 / 3, 1.0, 1.0]
    expect(torch.allclose(scales.double(), torch.tensor(expected_scales, dtype=torch.float64),
                          rtol=1e-6),
           _("symmetric_per_channel_quantize(w, bits=3) returned scales {scales}; expected "
             "[1/3, 1.0, 1.0]: max|w_c| / (2**(bits-1) - 1) = max|w_c| / 3, and 1.0 for an "
             "all-zero channel.").format(scales=scales.tolist()))
    expected_q = [[3, -2, 1], [0, 0, 0], [-3, 2, 0]]
    expect(q.tolist() == expected_q,
           _("symmetric_per_channel_quantize(w = {w}, bits=3) returned q = {q}; expected "
             "{expected_q} (round(w / scale) with half to even: -1.5 -> -2, 1.5 -> 2).").format(
             w=w.tolist(), q=q.tolist(), expected_q=expected_q))
    conv = torch.randn(4, 2, 3, 3, generator=torch.Generator().manual_seed(2))
    q, scales = call(symmetric_per_channel_quantize, conv, 8)
    expect(q.shape == conv.shape and scales.shape == (4,),
           _("symmetric_per_channel_quantize(conv weight of shape (4, 2, 3, 3), bits=8) "
             "returned q {q_shape} and scales {scales_shape}; expected (4, 2, 3, 3) and (4,).").format(
             q_shape=tuple(q.shape), scales_shape=tuple(scales.shape)))
    error = (q.float() * scales.reshape(4, 1, 1, 1) - conv).abs()
    expect(bool((error <= scales.reshape(4, 1, 1, 1) / 2 + 1e-6).all()) and int(q.abs().max()) <= 127,
           _("symmetric_per_channel_quantize(conv weight (4, 2, 3, 3), bits=8): q * scale "
             "should be within half a step of w and |q| <= 127."))
    small_and_large = torch.tensor([[0.012, -0.02, 0.013], [50.0, -10.0, 3.0]])
    q, scales = call(symmetric_per_channel_quantize, small_and_large, 8)
    expect(q[0].tolist() == [76, -127, 83],
           _("symmetric_per_channel_quantize([[0.012, -0.02, 0.013], [50, -10, 3]], bits=8) "
             "returned row 0 = {q}; expected [76, -127, 83]: the small channel gets its own "
             "scale 0.02 / 127, unaffected by the large one.").format(q=q[0].tolist()))
    vector = torch.tensor([0.5, -2.0, 0.0])
    q, scales = call(symmetric_per_channel_quantize, vector, 4)
    expect(q.shape == (3,) and scales.shape == (3,) and q.tolist() == [7, -7, 0]
           and torch.allclose(scales, torch.tensor([0.5 / 7, 2.0 / 7, 1.0])),
           _("symmetric_per_channel_quantize({vector}, bits=4) returned q = {q}, scales = "
             "{scales}; expected q [7, -7, 0] and scales [0.5/7, 2/7, 1.0]: a 1-D w has one "
             "value per channel.").format(
             vector=describe(vector), q=describe(q), scales=describe(scales)))


@visible_check
def check_kmeans_quantize(kmeans_quantize) -> int:
    w = torch.tensor([0.0, 0.1, 0.2, 0.9, 1.0])
    with part("main property"):
        _check_kmeans_main(kmeans_quantize, w)
    with part("edge cases"):
        lonely = torch.tensor([0.0, 0.0, 0.0, 9.0])
        codebook, labels = call(kmeans_quantize, lonely, 2, iters=5)
        expect(torch.allclose(codebook, torch.tensor([0.0, 3.0, 6.0, 9.0])),
               _("kmeans_quantize({lonely}, bits=2) returned codebook {codebook}; expected [0, "
                 "3, 6, 9]: the two middle clusters are empty and keep their centroids (no "
                 "division by zero).").format(lonely=describe(lonely), codebook=codebook.tolist()))
        constant = torch.full((2, 3), -1.25)
        codebook, labels = call(kmeans_quantize, constant, 2, iters=3)
        expect(bool(torch.isfinite(codebook).all())
               and torch.equal(codebook[labels.long()], constant),
               _("kmeans_quantize(a constant tensor of -1.25, bits=2) returned codebook "
                 "{codebook}; expected finite centroids (all -1.25: min = max) that rebuild "
                 "the tensor exactly.").format(codebook=codebook.tolist()))
        single = torch.tensor([[0.7]])
        codebook, labels = call(kmeans_quantize, single, 1)
        expect(labels.shape == (1, 1) and abs(codebook[labels.long()].item() - 0.7) < 1e-6,
               _("kmeans_quantize([[0.7]], bits=1) returned labels {labels}; expected labels "
                 "of shape (1, 1) that rebuild 0.7.").format(labels=describe(labels)))
    with part("errors"):
        expect_value_error(kmeans_quantize, w, 0, argument="bits")
        expect_value_error(kmeans_quantize, w, 2, iters=-1, argument="iters")
    return 9


def _check_kmeans_main(kmeans_quantize, w) -> None:
    got = call(kmeans_quantize, w, 1, iters=10)
    expect(isinstance(got, tuple) and len(got) == 2,
           _("kmeans_quantize(w, bits=1) returned {got}; expected (codebook, labels).").format(
             got=describe(got)))
    codebook, labels = got
    expect(isinstance(codebook, torch.Tensor) and codebook.shape == (2,),
           _("kmeans_quantize({w}, bits=1) returned codebook {codebook}; expected 2**bits = 2 "
             "centroids.").format(w=describe(w), codebook=describe(codebook)))
    expect(_is_int_tensor(labels) and labels.shape == w.shape,
           _("kmeans_quantize({w}, bits=1) returned labels {labels}; expected an integer "
             "tensor of w's shape (5,).").format(w=describe(w), labels=describe(labels)))
    expect(torch.allclose(codebook, torch.tensor([0.1, 0.95]), atol=1e-6)
           and labels.tolist() == [0, 0, 0, 1, 1],
           _("kmeans_quantize({w}, bits=1, iters=10) returned codebook {codebook} and labels "
             "{labels}; expected [0.1, 0.95] and [0, 0, 0, 1, 1] (start at [0, 1], assign to "
             "nearest, move to the means).").format(
             w=describe(w), codebook=codebook.tolist(), labels=labels.tolist()))
    codebook, labels = call(kmeans_quantize, w, 2, iters=0)
    expect(torch.allclose(codebook, torch.linspace(0, 1, 4)),
           _("kmeans_quantize(w, bits=2, iters=0) returned codebook {codebook}; expected the "
             "linear initialisation [0, 1/3, 2/3, 1] (torch.linspace(w.min(), w.max(), 4)).").format(
             codebook=codebook.tolist()))
    weights = torch.randn(20, 30, generator=torch.Generator().manual_seed(3))
    codebook, labels = call(kmeans_quantize, weights, 3)
    init = torch.linspace(weights.min().item(), weights.max().item(), 8)
    init_error = ((weights[..., None] - init).abs().amin(-1) ** 2).sum()
    error = ((codebook[labels] - weights) ** 2).sum()
    expect(labels.shape == weights.shape and bool(torch.isfinite(codebook).all())
           and error <= init_error * (1 + 1e-5),
           _("kmeans_quantize(randn (20, 30), bits=3): squared error {error:.4g} should not "
             "exceed that of the linear initial codebook ({init_error:.4g}), with finite "
             "centroids.").format(error=error, init_error=init_error))
    nearest = (weights[..., None] - codebook).abs().amin(-1)
    expect(torch.allclose((codebook[labels] - weights).abs(), nearest, atol=1e-6),
           _("kmeans_quantize(randn (20, 30), bits=3): every label should index the centroid "
             "nearest to its weight in the returned codebook."))


@visible_check
def check_fake_quantize(fake_quantize) -> int:
    values = [-2.0, -1.0, 0.3, 2.75, 2.9, 5.0]
    with part("forward"):
        x = torch.tensor(values)
        y = call(fake_quantize, x, 0.25, 4, 4)
        expect(isinstance(y, torch.Tensor) and y.shape == x.shape and y.is_floating_point(),
               _("fake_quantize(x, scale=0.25, zero_point=4, bits=4) returned {y}; expected a "
                 "float tensor of x's shape.").format(y=describe(y)))
        reference = torch.fake_quantize_per_tensor_affine(x, 0.25, 4, 0, 15)
        expect(torch.equal(y.detach().float(), reference),
               _("fake_quantize({x}, scale=0.25, zero_point=4, bits=4) returned {y}; expected "
                 "{reference} = dequantize(quantize(x)).").format(
                 x=describe(x), y=y.detach().tolist(), reference=reference.tolist()))
        plain = torch.tensor([0.1, 0.2])
        got = call(fake_quantize, plain, 0.125, 0, 8)
        expect(isinstance(got, torch.Tensor) and torch.equal(got.float(),
                                                             torch.tensor([0.125, 0.25])),
               _("fake_quantize({plain} without requires_grad, scale=0.125, zero_point=0, "
                 "bits=8) returned {got}; expected [0.125, 0.25].").format(
                 plain=describe(plain), got=describe(got)))
    with part("straight-through gradient"):
        x = torch.tensor(values, requires_grad=True)
        y = call(fake_quantize, x, 0.25, 4, 4)
        expect(isinstance(y, torch.Tensor) and y.requires_grad,
               _("fake_quantize(x with requires_grad=True, ...) returned a tensor without a "
                 "gradient: the straight-through estimator must let gradients reach x."))
        try:
            y.backward(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
        except Exception as error:
            expect(False, _("backward through fake_quantize(x, scale=0.25, zero_point=4, "
                            "bits=4) raised {error_type}: {error}").format(
                            error_type=type(error).__name__, error=error))
        expected = [0.0, 2.0, 3.0, 4.0, 0.0, 0.0]
        expect(x.grad is not None and x.grad.tolist() == expected,
               _("fake_quantize(x={values}, scale=0.25, zero_point=4, bits=4) with upstream "
                 "gradient [1, 2, 3, 4, 5, 6] gave x.grad = {grad}; expected {expected}: the "
                 "range is [0.25 * (0 - 4), 0.25 * (15 - 4)] = [-1.0, 2.75], ends included; "
                 "the gradient passes unchanged inside and is 0 outside.").format(
                 values=values, grad=None if x.grad is None else x.grad.tolist(),
                 expected=expected))
        # 2.6 and 2.74 round into range (to 2.5 and 2.75) but lie outside [-1.0, 2.5].
        inputs = torch.tensor([-1.1, -1.0, 2.5, 2.6, 2.74])

        def jacobian_of_fake_quantize(x):
            return torch.autograd.functional.jacobian(lambda t: fake_quantize(t, 0.5, 2, 3), x)

        jacobian = call(jacobian_of_fake_quantize, inputs)
        expected = torch.diag(torch.tensor([0.0, 1.0, 1.0, 0.0, 0.0]))
        expect(isinstance(jacobian, torch.Tensor) and torch.equal(jacobian, expected),
               _("fake_quantize(x={inputs}, scale=0.5, zero_point=2, bits=3) has Jacobian "
                 "{jacobian}; expected diagonal {diagonal} and zeros elsewhere: the range is "
                 "[-1.0, 2.5], ends included; 2.6 and 2.74 round into range but lie outside "
                 "it, so their gradient is 0.").format(
                 inputs=inputs.tolist(),
                 jacobian=jacobian.tolist() if isinstance(jacobian, torch.Tensor) else jacobian,
                 diagonal=torch.diagonal(expected).tolist()))
    return 5


def _float_linear_reference(q_x, x_scale, x_zp, q_w, w_scales, bias, out_scale, out_zp, bits):
    """The float computation ``quantized_linear`` must match within one output step."""
    x = (q_x.double() - x_zp) * x_scale
    w = q_w.double() * w_scales.double()[:, None]
    y = x @ w.T + (0 if bias is None else bias.double())
    return (torch.round(y / out_scale) + out_zp).clamp(0, 2**bits - 1)


@visible_check
def check_quantized_linear(quantized_linear) -> int:
    q_x = torch.tensor([[3, 0, 1]], dtype=torch.int32)
    q_w = torch.tensor([[1, -1, 2], [0, 1, 1]], dtype=torch.int32)
    w_scales = torch.tensor([0.5, 0.25])
    bias = torch.tensor([0.5, -0.5])
    cases = 0
    with part("main property"):
        # x = (q_x - 1) * 1.0 = [2, -1, 0]; y = [0.5 * (2 + 1) + 0.5, 0.25 * (-1) - 0.5]
        #   = [2.0, -0.75]
        got = call(quantized_linear, q_x, 1.0, 1, q_w, w_scales, bias, 0.25, 4, bits=4)
        expect(_is_int_tensor(got) and got.shape == (1, 2),
               _("quantized_linear(q_x (1, 3), q_w (2, 3), ...) returned {got}; expected an "
                 "integer tensor of shape (1, 2).").format(got=describe(got)))
        expect(got.tolist() == [[12, 1]],
               _("quantized_linear(q_x=[[3, 0, 1]], x_scale=1.0, x_zp=1, q_w=[[1, -1, 2], [0, "
                 "1, 1]], w_scales=[0.5, 0.25], bias=[0.5, -0.5], out_scale=0.25, out_zp=4, "
                 "bits=4) returned {got}; expected [[12, 1]]: the float outputs are [2.0, "
                 "-0.75], i.e. round(y / 0.25) + 4 = [12, 1].").format(got=got.tolist()))
        got = call(quantized_linear, q_x, 1.0, 1, q_w, w_scales, None, 0.25, 0, bits=4)
        expect(_is_int_tensor(got) and got.tolist() == [[6, 0]],
               _("quantized_linear(same, bias=None, out_zp=0, bits=4) returned {got}; expected "
                 "[[6, 0]]: negative outputs clamp to 0 (a fused ReLU).").format(got=describe(got)))
        cases += 2
        generator = torch.Generator().manual_seed(4)
        for batch, n_in, n_out, storage in ((5, 16, 7, False), (8, 300, 100, True)):
            cases += _check_random_layer(quantized_linear, generator, batch, n_in, n_out,
                                         storage)
    with part("int32 accumulation"):
        # 2048 * 255 * 127 = 66,325,760 overflows int16 (and float16); int32 holds it.
        cases += _check_random_layer(quantized_linear, torch.Generator().manual_seed(5),
                                     3, 2048, 4, True, extreme=True)
    with part("errors"):
        for bits in (0, -2):
            expect_value_error(quantized_linear, q_x, 1.0, 1, q_w, w_scales, bias, 0.25, 4,
                               bits=bits, argument="bits")
        # q_w has 2 input features where q_x has 3
        expect_value_error(quantized_linear, q_x, 1.0, 1, q_w[:, :2], w_scales, bias, 0.25, 4,
                           bits=4, argument="q_w")
    return cases + 3


def _check_random_layer(quantized_linear, generator, batch, n_in, n_out, storage,
                        extreme=False) -> int:
    """One random layer (uint8/int8 storage dtypes if ``storage``), compared with the float
    computation; ``extreme`` puts every input at 255 and every weight at +-127."""
    q_x = torch.randint(0, 256, (batch, n_in), generator=generator)
    q_w = torch.randint(-127, 128, (n_out, n_in), generator=generator)
    if extreme:
        q_x[:] = 255
        q_w[:] = 127
        q_w[1::2] = -127
    w_scales = torch.rand(n_out, generator=generator) * 0.01 + 1e-3
    bias = torch.randn(n_out, generator=generator)
    x_scale, x_zp = 0.02, 0 if extreme else 40
    float_out = ((q_x.double() - x_zp) * x_scale) @ (q_w.double() * w_scales.double()[:, None]).T
    out_scale = float((float_out.max() - float_out.min()) / 255)
    out_zp = int(torch.round(-float_out.min() / out_scale).clamp(0, 255))
    if storage:
        q_x, q_w = q_x.to(torch.uint8), q_w.to(torch.int8)
    got = call(quantized_linear, q_x, x_scale, x_zp, q_w, w_scales, bias, out_scale, out_zp)
    expected = _float_linear_reference(q_x, x_scale, x_zp, q_w, w_scales, bias, out_scale,
                                       out_zp, 8)
    where = (_("quantized_linear(q_x {q_x}, q_w {q_w}, bias [{n_out}], bits=8)").format(
               q_x=describe(q_x), q_w=describe(q_w), n_out=n_out))
    expect(_is_int_tensor(got) and got.shape == (batch, n_out),
           _("{where} returned {got}; expected an integer tensor of shape ({batch}, {n_out}).").format(
             where=where, got=describe(got), batch=batch, n_out=n_out))
    worst = int((got.double() - expected).abs().max())
    expect(worst <= 1,
           (_("{where} is {worst} output steps away from the float computation (at most 1 "
              "allowed); uint8/int8 inputs must be widened to int32 (or int64) before "
              "arithmetic, and the sum accumulated in int32 or wider.") if storage else
            _("{where} is {worst} output steps away from the float computation (at most 1 "
              "allowed).")).format(where=where, worst=worst))
    return 1


# --------------------------------------------------------------------------- calibrate_range
def _ref_affine(lo: float, hi: float, bits: int) -> tuple[float, int]:
    """affine_qparams of a range, in float64: the range widened to contain 0."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    q_max = 2**bits - 1
    if hi == lo:
        return 1.0, 0
    scale = (hi - lo) / q_max
    return scale, int(min(max(round(-lo / scale), 0), q_max))


def _ref_error(x: torch.Tensor, scale: float, zero_point: int, bits: int) -> float:
    x = x.double().flatten()
    q = (torch.round(x / scale) + zero_point).clamp(0, 2**bits - 1)
    return ((q - zero_point) * scale - x).pow(2).mean().item()


def _ref_mse_candidates(x: torch.Tensor, bits: int, grid: int) -> list[tuple[float, int]]:
    lo, hi = min(x.min().item(), 0.0), max(x.max().item(), 0.0)
    return [_ref_affine(k / grid * lo, k / grid * hi, bits) for k in range(1, grid + 1)]


def _check_calibration(calibrate_range, x, method, bits, want, why, **kwargs) -> None:
    got = call(calibrate_range, x, method, bits, **kwargs)
    text = f"calibrate_range({describe(x)}, {method!r}, bits={bits}" + "".join(
        f", {k}={v}" for k, v in kwargs.items()) + ")"
    expect(isinstance(got, tuple) and len(got) == 2,
           _("{text} returned {got!r}; expected a tuple (scale, zero_point).").format(
             text=text, got=got))
    scale, zero_point = got
    expect(isinstance(scale, float) and isinstance(zero_point, int)
           and not isinstance(zero_point, bool),
           _("{text} returned ({scale_type}, {zero_point_type}); expected (float, int), as "
             "affine_qparams returns them.").format(
             text=text, scale_type=type(scale).__name__, zero_point_type=type(zero_point).__name__))
    expect(math.isclose(scale, want[0], rel_tol=1e-5) and zero_point == want[1],
           _("{text} returned ({scale:.6g}, {zero_point}); expected ({want_scale:.6g}, {want_zero_point}): "
             "{why}.").format(
             text=text, scale=scale, zero_point=zero_point, want_scale=want[0], want_zero_point=want[1], why=why))


def _check_mse_search(calibrate_range, x, bits, grid=100) -> None:
    candidates = _ref_mse_candidates(x, bits, grid)
    errors = [_ref_error(x, s, z, bits) for s, z in candidates]
    best = min(errors)
    text = _("calibrate_range({x}, 'mse', bits={bits}, grid={grid})").format(
             x=describe(x), bits=bits, grid=grid)
    got = call(calibrate_range, x, "mse", bits, grid=grid)
    expect(isinstance(got, tuple) and len(got) == 2,
           _("{text} returned {got!r}; expected a tuple (scale, zero_point).").format(
             text=text, got=got))
    scale, zero_point = got
    matches = [k for k, (s, z) in enumerate(candidates, start=1)
               if z == zero_point and math.isclose(s, scale, rel_tol=1e-5)]
    expect(bool(matches),
           _("{text} returned ({scale:.6g}, {zero_point}), which is not the affine_qparams of "
             "any candidate range [alpha * lo, alpha * hi] with alpha = k / {grid}, k = "
             "1..{grid}.").format(text=text, scale=scale, zero_point=zero_point, grid=grid))
    got_error = _ref_error(x, scale, zero_point, bits)
    first = errors.index(best) + 1
    expect(got_error <= best * (1 + 1e-5) + 1e-12,
           _("{text} returned the candidate alpha = {matches}/{grid} with error "
             "{got_error:.6g}; alpha = {first}/{grid} gives {best:.6g}, the smallest mean "
             "squared error over all the activations.").format(
             text=text, matches=matches[0], grid=grid, got_error=got_error, first=first, best=best))


@visible_check
def check_calibrate_range(calibrate_range) -> int:
    ramp = torch.arange(101, dtype=torch.float32)  # 0, 1, ..., 100
    outlier = torch.cat([torch.linspace(-0.2, 1.0, 61), torch.tensor([12.0])])
    with part("main property"):
        _check_calibration(calibrate_range, torch.tensor([[-1.0, 0.0], [2.0, 0.5]]), "minmax", 8,
                           (3 / 255, 85), _("min-max is affine_qparams of the whole tensor"))
        _check_calibration(calibrate_range, ramp, "percentile", 8, (90 / 255, 0),
                           _("the 10% and 90% quantiles of 0..100 are 10 and 90, widened to "
                             "[0, 90]"), percentile=90.0)
        _check_calibration(calibrate_range, ramp - 30, "percentile", 4, (90 / 15, 4),
                           _("the 5% and 95% quantiles of -30..70 are -25 and 65: scale 90/15 "
                             "= 6, zero point round(25 / 6) = 4"), percentile=95.0)
        _check_mse_search(calibrate_range, outlier, 4)
        _check_mse_search(calibrate_range, outlier, 8, grid=20)
    with part("edge cases"):
        for method in ("minmax", "percentile", "mse"):
            _check_calibration(calibrate_range, torch.zeros(4), method, 8, (1.0, 0),
                               _("an all-zero input gets scale 1.0 and zero point 0"))
        _check_calibration(calibrate_range, outlier, "percentile", 4, _ref_affine(-0.2, 12.0, 4),
                           _("percentile=100 is min-max"), percentile=100.0)
        _check_calibration(calibrate_range, outlier, "mse", 4, _ref_affine(-0.2, 12.0, 4),
                           _("with grid=1 the only candidate is alpha = 1, min-max"), grid=1)
        _check_calibration(calibrate_range, torch.full((3,), 5.0), "mse", 8, (5 / 255, 0),
                           _("a constant 5.0 is reproduced exactly only by the full range [0, "
                             "5]"))
    with part("errors"):
        x = torch.randn(8)
        expect_value_error(calibrate_range, x, "max", argument="method")
        expect_value_error(calibrate_range, x, "mse", 0, argument="bits")
        expect_value_error(calibrate_range, x, "mse", 17, argument="bits")
        expect_value_error(calibrate_range, x, "percentile", 8, percentile=50.0,
                           argument="percentile")
        expect_value_error(calibrate_range, x, "percentile", 8, percentile=100.5,
                           argument="percentile")
        expect_value_error(calibrate_range, x, "mse", 8, grid=0, argument="grid")
        expect_value_error(calibrate_range, torch.zeros(0), "minmax", argument="activations")
    return 17


# --------------------------------------------------------------------------------- qat_step
def ref_qat_forward(layers, x, act_qparams, bits):
    """The QAT forward written with float formulas: STE with clipping for inputs, plain STE
    for symmetric per-channel weights."""
    h, i = x, 0
    for module in layers:
        if isinstance(module, torch.nn.Linear):
            scale, zero_point = act_qparams[i]
            q = (torch.round(h.detach() / scale) + zero_point).clamp(0, 2**bits - 1)
            inside = (h >= (0 - zero_point) * scale) & (h <= (2**bits - 1 - zero_point) * scale)
            h = (q - zero_point) * scale + (h - h.detach()) * inside
            w = module.weight
            q_max = 2 ** (bits - 1) - 1
            scales = w.detach().abs().amax(dim=1, keepdim=True) / q_max
            scales = torch.where(scales == 0, torch.ones_like(scales), scales)
            w_q = torch.round(w.detach() / scales).clamp(-q_max, q_max) * scales
            h = torch.nn.functional.linear(h, w + (w_q - w).detach(), module.bias)
            i += 1
        else:
            h = module(h)
    return h


def _tiny_mlp(seed: int) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 5),
                               torch.nn.ReLU(), torch.nn.Linear(5, 3))


def _check_qat_case(qat_step, seed, bits, stale) -> None:
    layers = _tiny_mlp(seed).eval()
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(10, 6, generator=generator)
    y = torch.randint(0, 3, (10,), generator=generator)
    # ranges narrower than the data, so that some inputs clip and get no gradient
    act_qparams = [(0.6 * 2.5 / (2**bits - 1), round(0.4 * (2**bits - 1))),
                   (0.7 * 1.5 / (2**bits - 1), 0), (0.7 * 1.0 / (2**bits - 1), 0)]
    twin = copy.deepcopy(layers).train()
    twin_optimizer = torch.optim.SGD(twin.parameters(), lr=0.5)
    want_loss = torch.nn.functional.cross_entropy(ref_qat_forward(twin, x, act_qparams, bits), y)
    want_loss.backward()
    twin_optimizer.step()
    optimizer = torch.optim.SGD(layers.parameters(), lr=0.5)
    if stale:
        for p in layers.parameters():
            p.grad = torch.ones_like(p)
    setting = (_("qat_step(6-8-5-3 MLP in eval mode, batch of 10, SGD lr=0.5, bits={bits}) with "
                 "stale gradients left on the parameters") if stale else
               _("qat_step(6-8-5-3 MLP in eval mode, batch of 10, SGD lr=0.5, bits={bits})")
               ).format(bits=bits)
    got = call(qat_step, layers, x, y, optimizer, act_qparams, bits, modifies=(0, 3))
    expect(isinstance(got, float),
           _("{setting} returned {got!r}; expected the loss as a Python float (loss.item()).").format(
             setting=setting, got=got))
    expect(abs(got - want_loss.item()) <= 1e-4 * max(1.0, abs(want_loss.item())),
           _("{setting} returned {got:.6g}; expected {want_loss:.6g}, the cross-entropy of the "
             "fake-quantized forward pass before the step.").format(
             setting=setting, got=got, want_loss=want_loss.item()))
    expect(layers.training, _("{setting} left the layers in eval mode; call layers.train().").format(
                              setting=setting))
    for (name, p), q in zip(layers.named_parameters(), twin.parameters(), strict=True):
        expect(torch.allclose(p, q, rtol=1e-4, atol=1e-6),
               (_("after {setting}, parameter {name} differs from one SGD step with "
                  "straight-through gradients by up to {difference:.3g}; zero the gradients "
                  "first (optimizer.zero_grad()).") if stale else
                _("after {setting}, parameter {name} differs from one SGD step with "
                  "straight-through gradients by up to {difference:.3g}; fake-quantize each "
                  "Linear's input (clipped STE) and weight (plain STE).")).format(
                   setting=setting, name=name, difference=(p - q).abs().max().item()))


@visible_check
def check_qat_step(qat_step) -> int:
    with part("main property"):
        _check_qat_case(qat_step, 0, 4, stale=False)
        _check_qat_case(qat_step, 1, 2, stale=False)
        _check_qat_case(qat_step, 2, 8, stale=True)
    with part("errors"):
        layers = _tiny_mlp(0)
        optimizer = torch.optim.SGD(layers.parameters(), lr=0.1)
        x, y = torch.randn(4, 6), torch.tensor([0, 1, 2, 0])
        expect_value_error(qat_step, layers, x, y, optimizer, [(0.1, 0)] * 2, 4,
                           argument="act_qparams")
        expect_value_error(qat_step, layers, x, y, optimizer, [(0.1, 0)] * 3, 1, argument="bits")
    return 5
