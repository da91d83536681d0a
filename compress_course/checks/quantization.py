"""Visible checks of lesson 02 (quantization).

The cases are small and worked out by hand, or compared with PyTorch's own quantization
operators (``torch.fake_quantize_per_tensor_affine``) at scales that are powers of two, so
that PyTorch's multiply-by-reciprocal and a division round identically.
"""

from __future__ import annotations

import math

import torch

from . import call, describe, expect, expect_value_error, visible_check

__all__ = ["check_affine_qparams", "check_quantize", "check_dequantize",
           "check_symmetric_per_channel_quantize", "check_kmeans_quantize",
           "check_fake_quantize", "check_quantized_linear"]


def _is_int_tensor(t) -> bool:
    return isinstance(t, torch.Tensor) and not t.is_floating_point() and not t.is_complex() \
        and t.dtype != torch.bool


@visible_check
def check_affine_qparams(affine_qparams) -> int:
    cases = [
        (torch.tensor([-1.0, 0.0, 2.0]), 8, 3 / 255, 85, "range [-1, 2]: scale 3/255, zero at 85"),
        (torch.tensor([2.0, 4.0]), 8, 4 / 255, 0,
         "all positive: the range is widened to [0, 4], so the zero point is 0"),
        (torch.tensor([-3.0, -1.0]), 2, 1.0, 3,
         "all negative: the range is widened to [-3, 0], so zero sits at the top, q = 3"),
        (torch.tensor([[-0.5, 1.5], [0.25, 0.0]]), 4, 2 / 15, 4,
         "range [-0.5, 1.5] over 15 steps; zero point round(0.5 / (2/15)) = round(3.75) = 4"),
        (torch.zeros(5), 8, 1.0, 0, "an all-zero tensor gets scale 1.0 and zero point 0"),
    ]
    for x, bits, scale, zero_point, why in cases:
        got = call(affine_qparams, x, bits)
        expect(isinstance(got, tuple) and len(got) == 2,
               f"affine_qparams({describe(x)}, bits={bits}) returned {got!r}; expected a tuple "
               "(scale, zero_point).")
        got_scale, got_zp = got
        expect(isinstance(got_scale, float),
               f"affine_qparams({describe(x)}, bits={bits}) returned a scale of type "
               f"{type(got_scale).__name__}; expected a Python float (use .item() / float()).")
        expect(isinstance(got_zp, int) and not isinstance(got_zp, bool),
               f"affine_qparams({describe(x)}, bits={bits}) returned a zero point of type "
               f"{type(got_zp).__name__}; expected a Python int.")
        expect(math.isclose(got_scale, scale, rel_tol=1e-5) and got_zp == zero_point,
               f"affine_qparams({describe(x)}, bits={bits}) returned ({got_scale:.6g}, {got_zp}); "
               f"expected ({scale:.6g}, {zero_point}): {why}.")
    got_scale, got_zp = call(affine_qparams, torch.full((3,), 5.0), 8)
    expect(got_scale > 0 and got_zp == 0,
           f"affine_qparams(a constant tensor of 5.0, bits=8) returned ({got_scale}, {got_zp}); "
           "expected a positive scale (5/255) and zero point 0.")
    expect_value_error(affine_qparams, torch.ones(3), 0, argument="bits")
    return len(cases) + 2


@visible_check
def check_quantize(quantize) -> int:
    ties = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5])
    got = call(quantize, ties, 1.0, 3, 8)
    expect(_is_int_tensor(got) and got.dtype in (torch.int32, torch.int64),
           f"quantize({describe(ties)}, scale=1.0, zero_point=3, bits=8) returned "
           f"{describe(got)}; expected an int32 or int64 tensor.")
    expect(got.tolist() == [3, 5, 5, 3, 1],
           f"quantize({describe(ties)}, scale=1.0, zero_point=3, bits=8) returned {got.tolist()}; "
           "expected [3, 5, 5, 3, 1]: torch.round rounds halves to the even integer "
           "(0.5 -> 0, 1.5 -> 2, 2.5 -> 2), then the zero point is added.")
    clip = torch.tensor([-10.0, 0.0, 10.0])
    got = call(quantize, clip, 1.0, 2, 3)
    expect(got.tolist() == [0, 2, 7],
           f"quantize({describe(clip)}, scale=1.0, zero_point=2, bits=3) returned {got.tolist()}; "
           "expected [0, 2, 7]: values outside the range clamp to 0 and 2**bits - 1 = 7.")
    generator = torch.Generator().manual_seed(0)
    cases = 2
    for bits, scale, zero_point in ((8, 0.125, 100), (4, 0.25, 3), (16, 2.0**-8, 30000), (1, 0.5, 1)):
        x = torch.randn(6, 7, generator=generator) * 3
        got = call(quantize, x, scale, zero_point, bits)
        expect(isinstance(got, torch.Tensor) and got.shape == x.shape,
               f"quantize(x of shape (6, 7), ...) returned {describe(got)}; expected shape (6, 7).")
        reference = torch.fake_quantize_per_tensor_affine(x, scale, zero_point, 0, 2**bits - 1)
        expected = torch.round(reference / scale).to(torch.int64) + zero_point
        expect(torch.equal(got.to(torch.int64), expected),
               f"quantize(x of shape (6, 7), scale={scale}, zero_point={zero_point}, bits={bits}) "
               f"differs from torch.fake_quantize_per_tensor_affine at "
               f"{int((got.to(torch.int64) != expected).sum())} positions.")
        cases += 1
    expect_value_error(quantize, ties, 1.0, 0, 0, argument="bits")
    expect_value_error(quantize, ties, 0.0, 0, 8, argument="scale")
    return cases + 2


@visible_check
def check_dequantize(dequantize) -> int:
    q = torch.tensor([0, 3, 255], dtype=torch.int32)
    got = call(dequantize, q, 0.5, 3)
    expect(isinstance(got, torch.Tensor) and got.dtype == torch.float32,
           f"dequantize({describe(q)}, scale=0.5, zero_point=3) returned {describe(got)}; "
           "expected a float32 tensor.")
    expect(got.tolist() == [-1.5, 0.0, 126.0],
           f"dequantize({describe(q)}, scale=0.5, zero_point=3) returned {got.tolist()}; "
           "expected [-1.5, 0.0, 126.0] = 0.5 * (q - 3).")
    stored = torch.tensor([0, 128, 255], dtype=torch.uint8)
    got = call(dequantize, stored, 0.25, 128)
    expect(got.tolist() == [-32.0, 0.0, 31.75],
           f"dequantize({describe(stored)}, scale=0.25, zero_point=128) returned {got.tolist()}; "
           "expected [-32.0, 0.0, 31.75]: convert uint8 to a wider integer type before "
           "subtracting the zero point, or 0 - 128 wraps around.")
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(5, 9, generator=generator)
    q = (torch.round(x / 0.0625) + 7).clamp(0, 255).to(torch.int32)
    got = call(dequantize, q, 0.0625, 7)
    reference = torch.fake_quantize_per_tensor_affine(x, 0.0625, 7, 0, 255)
    expect(torch.equal(got, reference),
           "dequantize(quantized randn of shape (5, 9), scale=0.0625, zero_point=7) differs from "
           "torch.fake_quantize_per_tensor_affine: expected scale * (q - zero_point).")
    return 3


@visible_check
def check_symmetric_per_channel_quantize(symmetric_per_channel_quantize) -> int:
    w = torch.tensor([[1.0, -0.5, 0.25], [0.0, 0.0, 0.0], [-3.0, 1.5, 0.0]])
    got = call(symmetric_per_channel_quantize, w, 3)
    expect(isinstance(got, tuple) and len(got) == 2,
           f"symmetric_per_channel_quantize(w, bits=3) returned {describe(got)}; expected a "
           "tuple (q, scales).")
    q, scales = got
    expect(_is_int_tensor(q) and q.shape == w.shape,
           f"symmetric_per_channel_quantize(w of shape (3, 3), bits=3) returned q = {describe(q)}; "
           "expected an integer tensor of shape (3, 3).")
    expect(isinstance(scales, torch.Tensor) and scales.shape == (3,),
           f"symmetric_per_channel_quantize(w of shape (3, 3), bits=3) returned scales = "
           f"{describe(scales)}; expected one scale per output channel, shape (3,).")
    expected_scales = [1 / 3, 1.0, 1.0]
    expect(torch.allclose(scales.double(), torch.tensor(expected_scales, dtype=torch.float64),
                          rtol=1e-6),
           f"symmetric_per_channel_quantize(w, bits=3) returned scales {scales.tolist()}; expected "
           "[1/3, 1.0, 1.0]: max|w_c| / (2**(bits-1) - 1) = max|w_c| / 3, and 1.0 for an "
           "all-zero channel.")
    expected_q = [[3, -2, 1], [0, 0, 0], [-3, 2, 0]]
    expect(q.tolist() == expected_q,
           f"symmetric_per_channel_quantize(w = {w.tolist()}, bits=3) returned q = {q.tolist()}; "
           f"expected {expected_q} (round(w / scale) with half to even: -1.5 -> -2, 1.5 -> 2).")
    conv = torch.randn(4, 2, 3, 3, generator=torch.Generator().manual_seed(2))
    q, scales = call(symmetric_per_channel_quantize, conv, 8)
    expect(q.shape == conv.shape and scales.shape == (4,),
           f"symmetric_per_channel_quantize(conv weight of shape (4, 2, 3, 3), bits=8) returned "
           f"q {tuple(q.shape)} and scales {tuple(scales.shape)}; expected (4, 2, 3, 3) and (4,).")
    error = (q.float() * scales.reshape(4, 1, 1, 1) - conv).abs()
    expect(bool((error <= scales.reshape(4, 1, 1, 1) / 2 + 1e-6).all()) and int(q.abs().max()) <= 127,
           "symmetric_per_channel_quantize(conv weight (4, 2, 3, 3), bits=8): q * scale should be "
           "within half a step of w and |q| <= 127.")
    expect_value_error(symmetric_per_channel_quantize, w, 1, argument="bits")
    return 4


@visible_check
def check_kmeans_quantize(kmeans_quantize) -> int:
    w = torch.tensor([0.0, 0.1, 0.2, 0.9, 1.0])
    got = call(kmeans_quantize, w, 1, iters=10)
    expect(isinstance(got, tuple) and len(got) == 2,
           f"kmeans_quantize(w, bits=1) returned {describe(got)}; expected (codebook, labels).")
    codebook, labels = got
    expect(isinstance(codebook, torch.Tensor) and codebook.shape == (2,),
           f"kmeans_quantize({describe(w)}, bits=1) returned codebook {describe(codebook)}; "
           "expected 2**bits = 2 centroids.")
    expect(_is_int_tensor(labels) and labels.shape == w.shape,
           f"kmeans_quantize({describe(w)}, bits=1) returned labels {describe(labels)}; expected "
           "an integer tensor of w's shape (5,).")
    expect(torch.allclose(codebook, torch.tensor([0.1, 0.95]), atol=1e-6)
           and labels.tolist() == [0, 0, 0, 1, 1],
           f"kmeans_quantize({describe(w)}, bits=1, iters=10) returned codebook "
           f"{codebook.tolist()} and labels {labels.tolist()}; expected [0.1, 0.95] and "
           "[0, 0, 0, 1, 1] (start at [0, 1], assign to nearest, move to the means).")
    codebook, labels = call(kmeans_quantize, w, 2, iters=0)
    expect(torch.allclose(codebook, torch.linspace(0, 1, 4)),
           f"kmeans_quantize(w, bits=2, iters=0) returned codebook {codebook.tolist()}; expected "
           "the linear initialisation [0, 1/3, 2/3, 1] (torch.linspace(w.min(), w.max(), 4)).")
    lonely = torch.tensor([0.0, 0.0, 0.0, 9.0])
    codebook, labels = call(kmeans_quantize, lonely, 2, iters=5)
    expect(torch.allclose(codebook, torch.tensor([0.0, 3.0, 6.0, 9.0])),
           f"kmeans_quantize({describe(lonely)}, bits=2) returned codebook {codebook.tolist()}; "
           "expected [0, 3, 6, 9]: the two middle clusters are empty and keep their centroids "
           "(no division by zero).")
    weights = torch.randn(20, 30, generator=torch.Generator().manual_seed(3))
    codebook, labels = call(kmeans_quantize, weights, 3)
    init = torch.linspace(weights.min().item(), weights.max().item(), 8)
    init_error = ((weights[..., None] - init).abs().amin(-1) ** 2).sum()
    error = ((codebook[labels] - weights) ** 2).sum()
    expect(labels.shape == weights.shape and bool(torch.isfinite(codebook).all())
           and error <= init_error * (1 + 1e-5),
           f"kmeans_quantize(randn (20, 30), bits=3): squared error {error:.4g} should not exceed "
           f"that of the linear initial codebook ({init_error:.4g}), with finite centroids.")
    nearest = (weights[..., None] - codebook).abs().amin(-1)
    expect(torch.allclose((codebook[labels] - weights).abs(), nearest, atol=1e-6),
           "kmeans_quantize(randn (20, 30), bits=3): every label should index the centroid "
           "nearest to its weight in the returned codebook.")
    expect_value_error(kmeans_quantize, w, 0, argument="bits")
    expect_value_error(kmeans_quantize, w, 2, iters=-1, argument="iters")
    return 7


@visible_check
def check_fake_quantize(fake_quantize) -> int:
    x = torch.tensor([-2.0, -1.0, 0.3, 2.75, 2.9, 5.0], requires_grad=True)
    y = call(fake_quantize, x, 0.25, 4, 4)
    expect(isinstance(y, torch.Tensor) and y.shape == x.shape and y.is_floating_point(),
           f"fake_quantize(x, scale=0.25, zero_point=4, bits=4) returned {describe(y)}; expected "
           "a float tensor of x's shape.")
    reference = torch.fake_quantize_per_tensor_affine(x.detach(), 0.25, 4, 0, 15)
    expect(torch.equal(y.detach(), reference),
           f"fake_quantize({describe(x.detach())}, scale=0.25, zero_point=4, bits=4) returned "
           f"{y.detach().tolist()}; expected {reference.tolist()} = dequantize(quantize(x)).")
    expect(y.requires_grad,
           "fake_quantize(x with requires_grad=True, ...) returned a tensor without a gradient: "
           "the straight-through estimator must let gradients reach x.")
    y.backward(torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    expected = [0.0, 2.0, 3.0, 4.0, 0.0, 0.0]
    expect(x.grad is not None and x.grad.tolist() == expected,
           f"fake_quantize(x={x.detach().tolist()}, scale=0.25, zero_point=4, bits=4) with "
           f"upstream gradient [1, 2, 3, 4, 5, 6] gave x.grad = "
           f"{None if x.grad is None else x.grad.tolist()}; expected {expected}: the range is "
           "[0.25 * (0 - 4), 0.25 * (15 - 4)] = [-1.0, 2.75], ends included; the gradient "
           "passes unchanged inside and is 0 outside.")
    plain = torch.tensor([0.1, 0.2])
    got = call(fake_quantize, plain, 0.125, 0, 8)
    expect(torch.equal(got, torch.tensor([0.125, 0.25])),
           f"fake_quantize({describe(plain)}, scale=0.125, zero_point=0, bits=8) returned "
           f"{describe(got)}; expected [0.125, 0.25] (and no error for a tensor without grad).")
    return 4


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
    # x = (q_x - 1) * 1.0 = [2, -1, 0]; y = [0.5 * (2 + 1) + 0.5, 0.25 * (-1) - 0.5] = [2.0, -0.75]
    got = call(quantized_linear, q_x, 1.0, 1, q_w, w_scales, bias, 0.25, 4, bits=4)
    expect(_is_int_tensor(got) and got.shape == (1, 2),
           f"quantized_linear(q_x (1, 3), q_w (2, 3), ...) returned {describe(got)}; expected an "
           "integer tensor of shape (1, 2).")
    expect(got.tolist() == [[12, 1]],
           f"quantized_linear(q_x=[[3, 0, 1]], x_scale=1.0, x_zp=1, q_w=[[1, -1, 2], [0, 1, 1]], "
           f"w_scales=[0.5, 0.25], bias=[0.5, -0.5], out_scale=0.25, out_zp=4, bits=4) returned "
           f"{got.tolist()}; expected [[12, 1]]: the float outputs are [2.0, -0.75], i.e. "
           "round(y / 0.25) + 4 = [12, 1].")
    generator = torch.Generator().manual_seed(4)
    cases = 1
    for batch, n_in, n_out, storage in ((5, 16, 7, False), (8, 300, 100, True), (3, 2048, 4, True)):
        q_x = torch.randint(0, 256, (batch, n_in), generator=generator)
        q_w = torch.randint(-127, 128, (n_out, n_in), generator=generator)
        w_scales = torch.rand(n_out, generator=generator) * 0.01 + 1e-3
        bias = torch.randn(n_out, generator=generator)
        x_scale, x_zp = 0.02, 40
        float_out = ((q_x.double() - x_zp) * x_scale) @ (q_w.double() * w_scales.double()[:, None]).T
        out_scale = float((float_out.max() - float_out.min()) / 255)
        out_zp = int(torch.round(-float_out.min() / out_scale).clamp(0, 255))
        if storage:
            q_x, q_w = q_x.to(torch.uint8), q_w.to(torch.int8)
        got = call(quantized_linear, q_x, x_scale, x_zp, q_w, w_scales, bias, out_scale, out_zp)
        expected = _float_linear_reference(q_x, x_scale, x_zp, q_w, w_scales, bias, out_scale,
                                           out_zp, 8)
        where = (f"quantized_linear(q_x {describe(q_x)}, q_w {describe(q_w)}, bias [{n_out}], "
                 "bits=8)")
        expect(isinstance(got, torch.Tensor) and got.shape == (batch, n_out),
               f"{where} returned {describe(got)}; expected shape ({batch}, {n_out}).")
        worst = int((got.double() - expected).abs().max())
        expect(worst <= 1,
               f"{where} is {worst} output steps away from the float computation (at most 1 "
               "allowed)" + ("; uint8/int8 inputs must be widened to int32 before arithmetic."
                             if storage else "."))
        cases += 1
    got = call(quantized_linear, q_x[:, :4], 0.02, 40, q_w[:, :4], w_scales[:4], None, 0.05, 0)
    expect(isinstance(got, torch.Tensor) and got.shape == (3, 4) and int(got.min()) >= 0
           and int(got.max()) <= 255,
           "quantized_linear(..., bias=None, ...) should work without a bias and return values "
           f"in [0, 255]; got {describe(got)}.")
    return cases + 1
