"""Visible checks of lesson 07 (transformers): ``causal_attention``,
``online_softmax_attention``, ``attend_with_cache``, ``quantize_groupwise``,
``gptq_quantize`` and ``smoothquant_scales``.

Attention is compared with PyTorch's fused ``scaled_dot_product_attention``; the
quantizers are checked through properties only a correct answer has (reconstruction within
half a step, GPTQ equal to round-to-nearest when the Hessian is the identity and no worse
than it on correlated inputs, a worked example computed by hand), so the package holds no
answer. ``largest_intermediate`` and ``dequantize_groupwise`` are shared with the hidden
checks.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from ..i18n import _
from . import call, describe, expect, expect_value_error, part, seeded, visible_check

__all__ = ["check_causal_attention", "check_online_softmax_attention",
           "check_attend_with_cache", "check_quantize_groupwise", "check_gptq_quantize",
           "check_smoothquant_scales", "largest_intermediate", "dequantize_groupwise",
           "cached_generation_matches", "GPTQ_WORKED_EXAMPLE"]



class _LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an operator returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(value, torch.Tensor):
                self.largest = max(self.largest, value.numel())
        return out


def largest_intermediate(fn, *args, **kwargs) -> tuple[object, int]:
    """``(fn(*args, **kwargs), n)``: n is the most elements of any tensor an operator
    created during the call (views and inputs included)."""
    with _LargestTensor() as mode:
        result = fn(*args, **kwargs)
    return result, mode.largest


def dequantize_groupwise(codes: torch.Tensor, scales: torch.Tensor, zeros: torch.Tensor,
                         group_size: int) -> torch.Tensor:
    """``(codes - zero) * scale`` per group of ``group_size`` consecutive inputs.

    ``codes`` ``[out, in]``; ``scales``, ``zeros`` ``[out, in // group_size]``. Returns a
    tensor of ``scales``'s dtype, ``[out, in]``.
    """
    out_features, in_features = codes.shape
    groups = codes.reshape(out_features, -1, group_size).to(scales.dtype)
    return ((groups - zeros[..., None].to(scales.dtype)) * scales[..., None]).reshape(
        out_features, in_features)


def _attention_reference(q, k, v):
    return F.scaled_dot_product_attention(q.double(), k.double(), v.double(),
                                          is_causal=True).to(q.dtype)


def _close_attention(got, q, k, v, call_text: str) -> None:
    expected = _attention_reference(q, k, v)
    expect(isinstance(got, torch.Tensor) and got.shape == expected.shape,
           _("{call_text} returned {got}; expected a tensor of shape {expected_shape}.").format(
             call_text=call_text, got=describe(got), expected_shape=tuple(expected.shape)))
    expect(got.dtype == q.dtype, _("{call_text} returned dtype {got_dtype}; expected "
                                   "{q_dtype}, the inputs' dtype.").format(
                                   call_text=call_text, got_dtype=got.dtype, q_dtype=q.dtype))
    tol = 1e-5 if q.dtype == torch.float32 else 1e-10
    gap = (got - expected).abs().max().item() if got.numel() else 0.0
    expect(gap <= tol * (1 + v.abs().max().item()),
           _("{call_text} differs from F.scaled_dot_product_attention(q, k, v, is_causal=True) "
             "by up to {gap:.3g} (tolerance {tol:g}); check the 1/sqrt(d) scale and that "
             "position t sees keys 0..t only.").format(call_text=call_text, gap=gap, tol=tol))


@visible_check
@seeded(70)
def check_causal_attention(causal_attention) -> int:
    cases = 0
    with part("main property"):
        for shape, dtype in [((2, 3, 5, 4), torch.float32), ((1, 2, 17, 8), torch.float64),
                             ((3, 1, 9, 16), torch.float32)]:
            q, k, v = (torch.randn(shape, dtype=dtype) for _ in range(3))
            got = call(causal_attention, q, k, v)
            _close_attention(got, q, k, v, _("causal_attention(q, k, v of shape {shape}, "
                                             "{dtype})").format(shape=shape, dtype=dtype))
            cases += 1
    with part("edge cases"):
        q, k, v = (torch.randn(2, 2, 1, 4) for _ in range(3))
        got = call(causal_attention, q, k, v)
        _close_attention(got, q, k, v, "causal_attention(T=1)")
        q, k, v = torch.randn(1, 2, 6, 4) * 40, torch.randn(1, 2, 6, 4) * 40, torch.randn(1, 2, 6, 4)
        got = call(causal_attention, q, k, v)
        expect(torch.isfinite(got).all(),
               _("causal_attention(q, k with scores in the thousands) returned inf or NaN; "
                 "subtract each row's maximum before exp (torch.softmax does)."))
        _close_attention(got, q, k, v, _("causal_attention(q, k with scores in the thousands)"))
        cases += 2
    with part("errors"):
        x = torch.randn(1, 2, 5, 4)
        expect_value_error(causal_attention, torch.randn(2, 5, 4), torch.randn(2, 5, 4),
                           torch.randn(2, 5, 4), argument="q")
        expect_value_error(causal_attention, x, torch.randn(1, 2, 5, 8), x, argument="k")
        expect_value_error(causal_attention, x, x, torch.randn(1, 2, 4, 4), argument="v")
        cases += 3
    return cases


@visible_check
@seeded(71)
def check_online_softmax_attention(online_softmax_attention) -> int:
    cases = 0
    with part("main property"):
        for shape, block, dtype in [((2, 2, 16, 8), 4, torch.float32),
                                    ((1, 3, 37, 8), 8, torch.float32),
                                    ((2, 1, 10, 4), 3, torch.float64),
                                    ((1, 2, 7, 4), 1, torch.float32),
                                    ((1, 2, 7, 4), 50, torch.float32)]:
            q, k, v = (torch.randn(shape, dtype=dtype) for _ in range(3))
            got = call(online_softmax_attention, q, k, v, block)
            _close_attention(got, q, k, v, _("online_softmax_attention(q, k, v of shape "
                                             "{shape}, {dtype}, block_size={block})").format(
                                             shape=shape, dtype=dtype, block=block))
            cases += 1
    with part("edge cases"):
        q, k, v = torch.randn(1, 1, 9, 4) * 40, torch.randn(1, 1, 9, 4) * 40, torch.randn(1, 1, 9, 4)
        got = call(online_softmax_attention, q, k, v, 4)
        expect(torch.isfinite(got).all(),
               _("online_softmax_attention(scores in the thousands, block_size=4) returned inf "
                 "or NaN; subtract the running maximum before exp, and rescale the running sum "
                 "and output by exp(old max - new max) when the maximum grows."))
        _close_attention(got, q, k, v, _("online_softmax_attention(scores in the thousands, "
                                         "block_size=4)"))
        cases += 1
    with part("no T x T matrix"):
        T = 64
        q, k, v = (torch.randn(1, 1, T, 8) for _ in range(3))
        _peak, largest = largest_intermediate(online_softmax_attention, q, k, v, 16)
        expect(largest < T * T,
               _("online_softmax_attention(T={T}, block_size=16) created a tensor of {largest} "
                 "elements, as large as the full {T}x{T} score matrix; compute scores for one "
                 "block of keys at a time ([T, block_size]).").format(T=T, largest=largest))
        cases += 1
    with part("errors"):
        x = torch.randn(1, 1, 4, 2)
        for bad in (0, -3):
            expect_value_error(online_softmax_attention, x, x, x, bad, argument="block_size")
        cases += 2
    return cases


def cached_generation_matches(attend_with_cache, seed: int = 0, steps: int = 12):
    """Greedy tokens of a small random ``CharTransformer`` decoded with ``attend_with_cache``
    and with full recomputation: ``(cached, recomputed)``, each ``[2, prompt + steps]``."""
    from .. import models

    torch.manual_seed(seed)
    model = models.CharTransformer(vocab_size=11, d_model=16, n_layers=2, n_heads=2,
                                   context=32)
    prompt = torch.randint(0, 11, (2, 5))
    cached = models.generate(model, prompt, steps, attend=attend_with_cache)
    recomputed = models.generate(model, prompt, steps)
    return cached, recomputed


@visible_check
@seeded(72)
def check_attend_with_cache(attend_with_cache) -> int:
    cases = 0
    with part("main property"):
        B, H, T, d = 2, 3, 7, 4
        q, k, v = (torch.randn(B, H, T, d) for _ in range(3))
        cache, outputs = None, []
        for t in range(T):
            text = _("attend_with_cache(step {t}, cache of {t} positions)").format(t=t)
            result = call(attend_with_cache, q[:, :, t:t + 1], k[:, :, t:t + 1],
                          v[:, :, t:t + 1], cache)
            expect(isinstance(result, tuple) and len(result) == 2,
                   _("{text} returned {result}; expected (out, (K, V)).").format(
                     text=text, result=describe(result)))
            out, cache = result
            expect(isinstance(cache, tuple) and len(cache) == 2 and
                   all(isinstance(c, torch.Tensor) for c in cache),
                   _("{text} returned cache {cache}; expected a tuple (K, V).").format(
                     text=text, cache=describe(cache)))
            expect(cache[0].shape == (B, H, t + 1, d) and cache[1].shape == (B, H, t + 1, d),
                   _("{text} returned K {k_shape}, V {v_shape}; expected both "
                     "{expected_shape} (the new key and value appended last).").format(
                     text=text, k_shape=tuple(cache[0].shape),
                     v_shape=tuple(cache[1].shape), expected_shape=(B, H, t + 1, d)))
            expect(torch.equal(cache[0][:, :, -1:], k[:, :, t:t + 1]),
                   _("{text}: the last key in the cache is not the new key k_t.").format(text=text))
            outputs.append(out)
        _close_attention(torch.cat(outputs, dim=2), q, k, v,
                         _("attend_with_cache over 7 steps (outputs stacked)"))
        cases += T
    with part("greedy generation"):
        cached, recomputed = cached_generation_matches(attend_with_cache)
        expect(torch.equal(cached, recomputed),
               _("greedy decoding of a small random model with attend_with_cache produced "
                 "{cached}; full recomputation produced {recomputed}.").format(
                 cached=cached[0].tolist(), recomputed=recomputed[0].tolist()))
        cases += 1
    with part("errors"):
        x = torch.randn(1, 2, 1, 4)
        expect_value_error(attend_with_cache, torch.randn(1, 2, 2, 4), x, x, None,
                           argument="q_t")
        bad_cache = (torch.randn(1, 2, 3, 8), torch.randn(1, 2, 3, 8))
        expect_value_error(attend_with_cache, x, x, x, bad_cache, argument="cache")
        bad_cache = (torch.randn(1, 3, 3, 4), torch.randn(1, 3, 3, 4))
        expect_value_error(attend_with_cache, x, x, x, bad_cache, argument="cache")
        cases += 3
    return cases


def _check_quantized_format(result, w: torch.Tensor, bits: int, group_size: int,
                            call_text: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    expect(isinstance(result, tuple) and len(result) == 3,
           _("{call_text} returned {result}; expected (codes, scales, zeros).").format(
             call_text=call_text, result=describe(result)))
    codes, scales, zeros = result
    out_features, in_features = w.shape
    n_groups = in_features // group_size
    expect(isinstance(codes, torch.Tensor) and codes.shape == w.shape and
           not codes.is_floating_point() and codes.dtype != torch.bool,
           _("{call_text} returned codes {codes}; expected an integer tensor of shape "
             "{w_shape}.").format(
             call_text=call_text, codes=describe(codes), w_shape=tuple(w.shape)))
    expect(isinstance(scales, torch.Tensor) and scales.shape == (out_features, n_groups) and
           scales.dtype == w.dtype,
           _("{call_text} returned scales {scales}; expected {w_dtype} of shape {expected_shape}.").format(
             call_text=call_text, scales=describe(scales), w_dtype=w.dtype,
             expected_shape=(out_features, n_groups)))
    expect(isinstance(zeros, torch.Tensor) and zeros.shape == (out_features, n_groups) and
           not zeros.is_floating_point() and zeros.dtype != torch.bool,
           _("{call_text} returned zeros {zeros}; expected an integer tensor of shape {expected_shape}.").format(
             call_text=call_text, zeros=describe(zeros), expected_shape=(out_features, n_groups)))
    qmax = 2 ** bits - 1
    expect(codes.min().item() >= 0 and codes.max().item() <= qmax,
           _("{call_text} returned codes from {codes_min} to {codes_max}; they must lie in [0, "
             "{qmax}].").format(
             call_text=call_text, codes_min=codes.min().item(), codes_max=codes.max().item(),
             qmax=qmax))
    expect(zeros.min().item() >= 0 and zeros.max().item() <= qmax,
           _("{call_text} returned zero points from {zeros_min} to {zeros_max}; they must lie "
             "in [0, {qmax}].").format(
             call_text=call_text, zeros_min=zeros.min().item(), zeros_max=zeros.max().item(),
             qmax=qmax))
    expect(bool((scales > 0).all()), _("{call_text} returned a scale <= 0; every scale must be "
                                       "positive (1.0 for a group whose range is 0).").format(
                                       call_text=call_text))
    return codes, scales, zeros


@visible_check
@seeded(73)
def check_quantize_groupwise(quantize_groupwise) -> int:
    cases = 0
    with part("main property"):
        w = torch.tensor([[-1.0, 0.5, 2.0, 0.0, 0.25, 0.4, 0.75, 1.0]])
        text = _("quantize_groupwise([[-1, .5, 2, 0, .25, .4, .75, 1]], bits=2, group_size=4)")
        codes, scales, zeros = _check_quantized_format(call(quantize_groupwise, w, 2, 4), w,
                                                       2, 4, text)
        expected = ([0, 1, 3, 1, 1, 1, 2, 3], [1.0, 1 / 3], [1, 0])
        expect(codes[0].tolist() == expected[0] and zeros[0].tolist() == expected[2] and
               torch.allclose(scales[0], torch.tensor(expected[1])),
               _("{text} returned codes {codes}, scales {scales}, zeros {zeros}; expected "
                 "codes {expected_codes}, scales [1.0, 0.3333], zeros {expected_zeros}. Group 1: range "
                 "[-1, 2] -> scale 3 / 3 = 1, zero round(1 / 1) = 1, and 0.5 rounds half to "
                 "even to 0, code 1. Group 2: range widened to [0, 1] -> scale 1/3, zero 0; "
                 ".25, .4, .75, 1 become .75, 1.2, 2.25, 3 steps -> codes 1, 1, 2, 3.").format(
                 text=text, codes=codes[0].tolist(), scales=scales[0].tolist(),
                 zeros=zeros[0].tolist(), expected_codes=expected[0], expected_zeros=expected[2]))
        for (out_f, in_f), bits, group, dtype in [((6, 32), 4, 8, torch.float32),
                                                  ((3, 24), 3, 24, torch.float64),
                                                  ((5, 16), 8, 4, torch.float32)]:
            w = torch.randn(out_f, in_f, dtype=dtype)
            text = f"quantize_groupwise({describe(w)}, bits={bits}, group_size={group})"
            codes, scales, zeros = _check_quantized_format(
                call(quantize_groupwise, w, bits, group), w, bits, group, text)
            restored = dequantize_groupwise(codes, scales, zeros, group)
            step = scales.repeat_interleave(group, dim=1)
            worst = ((restored - w).abs() / step).max().item()
            expect(worst <= 0.5 + 1e-4,
                   _("{text}: (codes - zero) * scale is up to {worst:.3g} steps away from w; "
                     "round to nearest keeps every weight within half a step.").format(
                     text=text, worst=worst))
            cases += 1
    with part("edge cases"):
        w = torch.tensor([[3.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 0.0]])
        text = _("quantize_groupwise([[3, 3, 3, 3, 0, 0, 0, 0]], bits=3, group_size=4)")
        codes, scales, zeros = _check_quantized_format(call(quantize_groupwise, w, 3, 4), w,
                                                       3, 4, text)
        restored = dequantize_groupwise(codes, scales, zeros, 4)
        expect(torch.allclose(restored, w) and scales[0, 1].item() == 1.0,
               _("{text} restores {restored} with scales {scales}; a constant group [3, 3, 3, "
                 "3] has range [0, 3] (0 is always included) and is exact; an all-zero group "
                 "gets scale 1.0 and restores zeros.").format(
                 text=text, restored=restored[0].tolist(), scales=scales[0].tolist()))
        w = torch.randn(4, 6)
        text = _("quantize_groupwise(float32 tensor of shape (4, 6), bits=1, group_size=6)")
        codes, scales, zeros = _check_quantized_format(call(quantize_groupwise, w, 1, 6), w,
                                                       1, 6, text)
        cases += 2
    with part("errors"):
        w = torch.randn(2, 8)
        for bits in (0, 9):
            expect_value_error(quantize_groupwise, w, bits, 4, argument="bits")
        for group in (3, 0, 16):
            expect_value_error(quantize_groupwise, w, 4, group, argument="group_size")
        expect_value_error(quantize_groupwise, torch.randn(8), 4, 4, argument="w")
        cases += 6
    return cases


#: A worked GPTQ example (damp 0, one group of 3, bits 1): w = [[0.4, 0.3, 1.0]],
#: H = [[2, 1, 0], [1, 2, 1], [0, 1, 2]]. The group's range is [0, 1]: scale 1, zero 0.
#: U, the upper Cholesky factor of H^-1, has rows [.8660, -.5774, .2887], [0, .8165, -.4082].
#: Column 0: 0.4 -> code 0, error 0.4; 0.4 / .8660 = .4619 is spread: column 1 becomes
#: 0.3 + .4619 * .5774 = .5667, column 2 becomes 1 - .4619 * .2887 = .8667.
#: Column 1: .5667 -> code 1, error -.4333; -.4333 / .8165 = -.5307: column 2 becomes
#: .8667 - .5307 * .4082 = .65 -> code 1. Round to nearest gives [0, 0, 1] instead.
GPTQ_WORKED_EXAMPLE = {
    "w": [[0.4, 0.3, 1.0]],
    "hessian": [[2.0, 1.0, 0.0], [1.0, 2.0, 1.0], [0.0, 1.0, 2.0]],
    "bits": 1,
    "group_size": 3,
    "codes": [[0, 1, 1]],
    "rtn_codes": [[0, 0, 1]],
}


@visible_check
@seeded(74)
def check_gptq_quantize(gptq_quantize) -> int:
    cases = 0
    with part("main property"):
        # With H = identity there is nothing to spread the error onto: GPTQ = RTN.
        w = torch.randn(4, 16)
        text = _("gptq_quantize(w (4, 16), hessian=identity, bits=3, group_size=8, damp=0.0)")
        codes, scales, zeros = _check_quantized_format(
            call(gptq_quantize, w, torch.eye(16), 3, 8, 0.0), w, 3, 8, text)
        restored = dequantize_groupwise(codes, scales, zeros, 8)
        step = scales.repeat_interleave(8, dim=1)
        worst = ((restored - w).abs() / step).max().item()
        expect(worst <= 0.5 + 1e-4,
               _("{text}: with an identity Hessian no error is spread, so GPTQ is round to "
                 "nearest; but a weight is restored {worst:.3g} steps away.").format(
                 text=text, worst=worst))
        # Correlated inputs: GPTQ must beat round to nearest on the calibration data.
        for bits, group in [(3, 16), (2, 32), (4, 8)]:
            mix = torch.randn(32, 32) / 4 + torch.eye(32)
            X = (torch.randn(32, 512) * torch.rand(32, 1) * 3).T @ mix  # [n, in]
            X = X.T  # [in, n]
            H = 2 * X @ X.T / X.shape[1]
            w = torch.randn(16, 32)
            text = (_("gptq_quantize(w (16, 32), hessian of correlated inputs, bits={bits}, "
                      "group_size={group})").format(bits=bits, group=group))
            result = _check_quantized_format(call(gptq_quantize, w, H, bits, group, 0.01), w,
                                             bits, group, text)
            gptq_error = ((dequantize_groupwise(*result, group) - w) @ X).square().sum().item()
            rtn = _rtn(w, bits, group)
            rtn_error = ((rtn - w) @ X).square().sum().item()
            expect(gptq_error <= rtn_error,
                   _("{text}: calibration error ||(W_q - W) X||^2 = {gptq_error:.4g}, larger "
                     "than round to nearest's {rtn_error:.4g}; spread each column's error over "
                     "the later columns with the Cholesky factor of H^-1.").format(
                     text=text, gptq_error=gptq_error, rtn_error=rtn_error))
            cases += 1
    with part("worked example"):
        example = GPTQ_WORKED_EXAMPLE
        w, H = torch.tensor(example["w"]), torch.tensor(example["hessian"])
        text = _("gptq_quantize(w=[[0.4, 0.3, 1.0]], hessian=[[2,1,0],[1,2,1],[0,1,2]], "
                 "bits=1, group_size=3, damp=0.0)")
        codes, scales, zeros = _check_quantized_format(
            call(gptq_quantize, w, H, 1, 3, 0.0), w, 1, 3, text)
        expect(codes.tolist() == example["codes"],
               _("{text} returned codes {codes}; expected {example_codes} (column 0's error "
                 "0.4, divided by U[0, 0], moves column 1 to .567, which rounds to 1; round to "
                 "nearest would give {example_rtn_codes}).").format(
                 text=text, codes=codes.tolist(), example_codes=example['codes'],
                 example_rtn_codes=example['rtn_codes']))
        cases += 1
    with part("errors"):
        w, H = torch.randn(3, 8), torch.eye(8)
        expect_value_error(gptq_quantize, w, torch.eye(6), 4, 4, 0.01, argument="hessian")
        expect_value_error(gptq_quantize, w, H, 0, 4, 0.01, argument="bits")
        expect_value_error(gptq_quantize, w, H, 4, 3, 0.01, argument="group_size")
        expect_value_error(gptq_quantize, w, H, 4, 4, -0.1, argument="damp")
        cases += 4
    return cases


def _rtn(w: torch.Tensor, bits: int, group_size: int) -> torch.Tensor:
    """Round-to-nearest group-wise min-max quantization, dequantized (for comparisons)."""
    out_features, in_features = w.shape
    groups = w.reshape(out_features, -1, group_size)
    low, high = groups.amin(-1, keepdim=True).clamp(max=0), groups.amax(-1, keepdim=True).clamp(min=0)
    qmax = 2 ** bits - 1
    scale = torch.where(high > low, (high - low) / qmax, torch.ones_like(high))
    zero = torch.round(-low / scale)
    q = torch.clamp(torch.round(groups / scale) + zero, 0, qmax)
    return ((q - zero) * scale).reshape(out_features, in_features)


@visible_check
@seeded(75)
def check_smoothquant_scales(smoothquant_scales) -> int:
    cases = 0
    with part("main property"):
        for alpha in (0.0, 0.5, 0.8, 1.0):
            a = torch.rand(12) * 20 + 0.1
            w = torch.rand(12) + 0.05
            text = f"smoothquant_scales(act_absmax, weight_absmax, alpha={alpha})"
            s = call(smoothquant_scales, a, w, alpha)
            expect(isinstance(s, torch.Tensor) and s.shape == a.shape and s.dtype == a.dtype,
                   _("{text} returned {s}; expected {a_dtype} of shape {a_shape}.").format(
                     text=text, s=describe(s), a_dtype=a.dtype, a_shape=tuple(a.shape)))
            # After smoothing: activation range a/s = (a*w)^(1-alpha)... and weight range
            # w*s = a^alpha * w^alpha; their product is always a*w.
            expect(torch.allclose(a / s, a.pow(1 - alpha) * w.pow(1 - alpha), rtol=1e-4) and
                   torch.allclose(w * s, a.pow(alpha) * w.pow(alpha), rtol=1e-4),
                   _("{text}: after dividing X by s and multiplying W by s, the ranges should "
                     "be max|X_j|/s_j = (max|X_j| max|W_j|)^(1-alpha) and max|W_j| s_j = "
                     "(max|X_j| max|W_j|)^alpha; got s = {s}...").format(
                     text=text, s=s[:3].tolist()))
            cases += 1
    with part("edge cases"):
        a, w = torch.tensor([0.0, 4.0, 2.0]), torch.tensor([1.0, 0.0, 2.0])
        s = call(smoothquant_scales, a, w, 0.5)
        expected = torch.tensor([math.sqrt(1e-5), math.sqrt(4.0 / 1e-5), 1.0])
        expect(isinstance(s, torch.Tensor) and torch.allclose(s, expected, rtol=1e-4),
               _("smoothquant_scales([0, 4, 2], [1, 0, 2], alpha=0.5) returned {s}; expected "
                 "{expected} (zeros clamped to 1e-5 first, so no scale is 0 or inf).").format(
                 s=describe(s), expected=[round(x, 4) for x in expected.tolist()]))
        a64 = torch.tensor([1.0, 9.0], dtype=torch.float64)
        s = call(smoothquant_scales, a64, torch.tensor([1.0, 1.0], dtype=torch.float64), 0.5)
        expect(s.dtype == torch.float64, _("smoothquant_scales(float64 maxima) returned "
                                           "{s_dtype}; expected float64.").format(s_dtype=s.dtype))
        cases += 2
    with part("errors"):
        a, w = torch.rand(4), torch.rand(4)
        for alpha in (-0.1, 1.5):
            expect_value_error(smoothquant_scales, a, w, alpha, argument="alpha")
        expect_value_error(smoothquant_scales, a, torch.rand(5), 0.5, argument="weight_absmax")
        expect_value_error(smoothquant_scales, -a - 1, w, 0.5, argument="act_absmax")
        expect_value_error(smoothquant_scales, a, -w - 1, 0.5, argument="weight_absmax")
        cases += 5
    return cases
