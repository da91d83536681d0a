"""Hidden checks of lesson 07: causal_attention, online_softmax_attention,
attend_with_cache, quantize_groupwise, gptq_quantize and smoothquant_scales.

References are computed here, independently of the submission: attention with PyTorch's
``F.scaled_dot_product_attention`` in float64 (and an explicit loop over query positions),
group-wise quantization from its definition, GPTQ from Frantar et al.'s algorithm written
out on small matrices (column loop, inverse Hessian updated by Gaussian elimination rather
than through a Cholesky factor), SmoothQuant's scales from the formula in logarithms.
"""

import math

import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from torch.nn import functional as F

from compress_course.checks import (
    GPTQ_WORKED_EXAMPLE,
    cached_generation_matches,
    call,
    dequantize_groupwise,
    describe,
    expect_value_error,
    largest_intermediate,
)
from compress_course.i18n import _

NOTEBOOK = "07_transformers"
NO_SHRINK = [Phase.explicit, Phase.generate]
DTYPES = [torch.float32, torch.float64]


@pytest.fixture(scope="module")
def nb(submission):
    return submission.load(NOTEBOOK)


def qkv(seed, shape, dtype, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return tuple((torch.randn(shape, generator=g, dtype=torch.float64) * s).to(dtype)
                 for s in (scale, scale, 1.0))


def reference_attention(q, k, v):
    """Causal attention in float64, one query position at a time."""
    q, k, v = q.double(), k.double(), v.double()
    T, d = q.shape[-2], q.shape[-1]
    rows = []
    for t in range(T):
        scores = q[..., t:t + 1, :] @ k[..., :t + 1, :].transpose(-2, -1) / math.sqrt(d)
        rows.append(torch.softmax(scores, dim=-1) @ v[..., :t + 1, :])
    return torch.cat(rows, dim=-2)


def assert_attention(got, q, k, v, what):
    expected = reference_attention(q, k, v)
    assert isinstance(got, torch.Tensor) and got.shape == q.shape, (
        _("{what} returned {got_text}; expected a tensor of shape {q_shape}.").format(
          what=what, got_text=describe(got), q_shape=tuple(q.shape)))
    assert got.dtype == q.dtype, _("{what} returned dtype {got_dtype}; expected "
                                   "{q_dtype}.").format(
                                   what=what, got_dtype=got.dtype, q_dtype=q.dtype)
    tol = 2e-5 if q.dtype == torch.float32 else 1e-10
    gap = (got.double() - expected).abs().max().item()
    assert gap <= tol * (1 + v.abs().max().item()), (
        _("{what} differs from causal softmax(q k^T / sqrt(d)) v by up to {gap:.3g}.").format(
          what=what, gap=gap))
    sdpa = F.scaled_dot_product_attention(q.double(), k.double(), v.double(), is_causal=True)
    assert (got.double() - sdpa).abs().max().item() <= tol * (1 + v.abs().max().item()), (
        _("{what} differs from F.scaled_dot_product_attention(..., is_causal=True).").format(
          what=what))


shapes = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 40),
                   st.sampled_from([1, 2, 4, 8, 16]))


# --------------------------------------------------------------------- causal_attention

@pytest.mark.exercise("causal_attention", points=2, check="main property", weight=2)
@settings(max_examples=30, phases=NO_SHRINK)
@given(shape=shapes, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10_000))
def test_causal_attention_matches_reference(nb, shape, dtype, seed):
    q, k, v = qkv(seed, shape, dtype)
    got = call(nb.causal_attention, q, k, v)
    assert_attention(got, q, k, v, _("causal_attention(q, k, v of shape {shape}, "
                                     "{dtype})").format(shape=shape, dtype=dtype))


@pytest.mark.exercise("causal_attention", points=2, check="edge cases", weight=1)
def test_causal_attention_edge_cases(nb):
    for shape, scale in [((2, 2, 1, 4), 1.0), ((1, 2, 12, 4), 40.0), ((1, 1, 5, 2), 300.0)]:
        q, k, v = qkv(7, shape, torch.float32, scale)
        got = call(nb.causal_attention, q, k, v)
        assert torch.isfinite(got).all(), (
            _("causal_attention(q, k of shape {shape} scaled by {scale}) returned inf "
              "or NaN; large scores must not overflow (subtract each row's maximum, as "
              "torch.softmax does).").format(shape=shape, scale=scale))
        assert_attention(got, q, k, v, _("causal_attention(shape {shape}, scores "
                                         "x{scale}^2)").format(shape=shape, scale=scale))


@pytest.mark.exercise("causal_attention", points=2, check="errors", weight=1)
def test_causal_attention_errors(nb):
    x = torch.randn(2, 2, 6, 4)
    expect_value_error(nb.causal_attention, torch.randn(6, 4), torch.randn(6, 4),
                       torch.randn(6, 4), argument="q")
    expect_value_error(nb.causal_attention, torch.randn(2, 6, 4), torch.randn(2, 6, 4),
                       torch.randn(2, 6, 4), argument="q")
    expect_value_error(nb.causal_attention, x, torch.randn(2, 2, 5, 4), x, argument="k")
    expect_value_error(nb.causal_attention, x, torch.randn(2, 3, 6, 4), x, argument="k")
    expect_value_error(nb.causal_attention, x, x, torch.randn(2, 2, 6, 8), argument="v")


# --------------------------------------------------------------------- online_softmax_attention

@pytest.mark.exercise("online_softmax_attention", points=3, check="main property", weight=2)
@settings(max_examples=30, phases=NO_SHRINK)
@given(shape=shapes, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10_000),
       block=st.integers(1, 50))
def test_online_softmax_attention_matches_reference(nb, shape, dtype, seed, block):
    q, k, v = qkv(seed, shape, dtype)
    got = call(nb.online_softmax_attention, q, k, v, block)
    assert_attention(got, q, k, v, _("online_softmax_attention(q, k, v of shape "
                                     "{shape}, {dtype}, block_size={block})").format(
                                     shape=shape, dtype=dtype, block=block))


@pytest.mark.exercise("online_softmax_attention", points=3, check="edge cases", weight=1)
def test_online_softmax_attention_edge_cases(nb):
    cases = [((1, 1, 1, 4), 1, 1.0), ((1, 2, 13, 4), 13, 1.0), ((1, 2, 13, 4), 14, 1.0),
             ((2, 1, 23, 4), 5, 40.0), ((1, 1, 30, 2), 7, 300.0), ((1, 1, 9, 4), 2, 1.0)]
    for shape, block, scale in cases:
        q, k, v = qkv(11, shape, torch.float32, scale)
        got = call(nb.online_softmax_attention, q, k, v, block)
        assert torch.isfinite(got).all(), (
            _("online_softmax_attention(shape {shape}, block_size={block}, scores "
              "x{scale}^2) returned inf or NaN; subtract the running maximum before exp "
              "and rescale what was accumulated by exp(old max - new max).").format(
              shape=shape, block=block, scale=scale))
        assert_attention(got, q, k, v, _("online_softmax_attention(shape {shape}, "
                                         "block_size={block}, scores x{scale}^2)").format(
                                         shape=shape, block=block, scale=scale))
    # Scores that grow along the keys: the running maximum changes in every block.
    T = 20
    q = torch.ones(1, 1, T, 2)
    k = torch.arange(T, dtype=torch.float32).reshape(1, 1, T, 1).repeat(1, 1, 1, 2) * 3
    v = torch.randn(1, 1, T, 2, generator=torch.Generator().manual_seed(3))
    got = call(nb.online_softmax_attention, q, k, v, 3)
    assert_attention(got, q, k, v, _("online_softmax_attention(scores rising along the keys, "
                                     "block_size=3)"))


def largest_tensor_scenario(function, q, k, v, block):
    _, largest = largest_intermediate(function, q, k, v, block)
    return largest


@pytest.mark.exercise("online_softmax_attention", points=3, check="no T x T matrix", weight=1)
@pytest.mark.parametrize("shape, block", [((1, 1, 64, 8), 16), ((2, 2, 96, 4), 32),
                                          ((1, 1, 50, 8), 7)])
def test_online_softmax_attention_never_builds_the_score_matrix(nb, shape, block):
    q, k, v = qkv(5, shape, torch.float32)
    function = nb.online_softmax_attention
    runner = getattr(function, "run_with", None)
    largest = (runner(largest_tensor_scenario, q, k, v, block) if runner else
               largest_tensor_scenario(function, q, k, v, block))
    B, H, T, _unused = shape
    assert isinstance(largest, int) and largest < B * H * T * T, (
        _("online_softmax_attention(q, k, v of shape {shape}, block_size={block}) "
          "created a tensor of {largest} elements, as many as the full score matrix "
          "({b_h_t_t}); work on [T, block_size] scores one key block at a time.").format(
          shape=shape, block=block, largest=largest, b_h_t_t=B * H * T * T))


@pytest.mark.exercise("online_softmax_attention", points=3, check="errors", weight=1)
def test_online_softmax_attention_errors(nb):
    x = torch.randn(1, 1, 5, 2)
    for bad in (0, -1, -8):
        expect_value_error(nb.online_softmax_attention, x, x, x, bad, argument="block_size")


# --------------------------------------------------------------------- attend_with_cache

def as_cache(result, what):
    assert isinstance(result, tuple) and len(result) == 2, (
        _("{what} returned {result_text}; expected (out, (K, V)).").format(
          what=what, result_text=describe(result)))
    out, cache = result
    assert isinstance(cache, tuple) and len(cache) == 2 and all(
        isinstance(c, torch.Tensor) for c in cache), (
        _("{what} returned cache {cache_text}; expected a tuple (K, V) of tensors.").format(
          what=what, cache_text=describe(cache)))
    return out, cache


@pytest.mark.exercise("attend_with_cache", points=3, check="main property", weight=2)
@settings(max_examples=15, phases=NO_SHRINK)
@given(shape=shapes, dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10_000),
       start=st.integers(0, 5))
def test_attend_with_cache_step_by_step(nb, shape, dtype, seed, start):
    q, k, v = qkv(seed, shape, dtype)
    B, H, T, d = shape
    start = min(start, T - 1)
    # A cache that already holds the first `start` positions (None when empty).
    cache = None if start == 0 else (k[:, :, :start].clone(), v[:, :, :start].clone())
    outputs = []
    for t in range(start, min(T, start + 6)):
        what = _("attend_with_cache(step {t}, {dtype}, cache of {t} positions)").format(
                 t=t, dtype=dtype)
        out, cache = as_cache(call(nb.attend_with_cache, q[:, :, t:t + 1], k[:, :, t:t + 1],
                                   v[:, :, t:t + 1], cache), what)
        assert cache[0].shape == (B, H, t + 1, d) and cache[1].shape == (B, H, t + 1, d), (
            _("{what} returned K {cache_0_shape}, V {cache_1_shape}; expected both "
              "{b_h_t_1_d}.").format(
              what=what, cache_0_shape=tuple(cache[0].shape),
              cache_1_shape=tuple(cache[1].shape), b_h_t_1_d=(B, H, t + 1, d)))
        assert torch.equal(cache[0], k[:, :, :t + 1]) and torch.equal(cache[1], v[:, :, :t + 1]), (
            _("{what}: the cache must hold the old keys/values followed by the new "
              "ones, unchanged.").format(what=what))
        outputs.append(out)
    stop = start + len(outputs)
    expected = reference_attention(q, k, v)[:, :, start:stop]
    got = torch.cat(outputs, dim=2)
    tol = 2e-5 if dtype == torch.float32 else 1e-10
    assert got.dtype == dtype and (got.double() - expected).abs().max().item() <= tol * (
        1 + v.abs().max().item()), (
        _("attend_with_cache ({dtype}) outputs at steps {start}..{stop_1} differ from "
          "causal attention over the whole sequence.").format(
          dtype=dtype, start=start, stop_1=stop - 1))


def generation_scenario(function, seed):
    return cached_generation_matches(function, seed=seed, steps=10)


@pytest.mark.exercise("attend_with_cache", points=3, check="greedy generation", weight=1)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attend_with_cache_greedy_generation(nb, seed):
    function = nb.attend_with_cache
    runner = getattr(function, "run_with", None)
    cached, _unused = (runner(generation_scenario, seed) if runner else
                       generation_scenario(function, seed))
    # The reference is recomputed here, never in the learner's process.
    from compress_course import models
    torch.manual_seed(seed)
    model = models.CharTransformer(vocab_size=11, d_model=16, n_layers=2, n_heads=2, context=32)
    prompt = torch.randint(0, 11, (2, 5))
    recomputed = models.generate(model, prompt, 10)
    assert isinstance(cached, torch.Tensor) and torch.equal(cached, recomputed), (
        _("greedy decoding (seed {seed}) with attend_with_cache gave {cached_text}; "
          "full recomputation gave {recomputed_0_list}.").format(
          seed=seed, cached_text=describe(cached), recomputed_0_list=recomputed[0].tolist()))


@pytest.mark.exercise("attend_with_cache", points=3, check="errors", weight=1)
def test_attend_with_cache_errors(nb):
    x = torch.randn(2, 2, 1, 4)
    expect_value_error(nb.attend_with_cache, torch.randn(2, 2, 3, 4), x, x, None,
                       argument="q_t")
    expect_value_error(nb.attend_with_cache, torch.randn(2, 1, 4), x, x, None, argument="q_t")
    for K in (torch.randn(2, 2, 3, 8), torch.randn(2, 3, 3, 4), torch.randn(1, 2, 3, 4)):
        expect_value_error(nb.attend_with_cache, x, x, x, (K, K.clone()), argument="cache")


# --------------------------------------------------------------------- quantize_groupwise

def reference_groupwise(w, bits, group_size):
    """codes, scales, zeros, from the definition, group by group (float64 ranges)."""
    qmax = 2 ** bits - 1
    out_features, in_features = w.shape
    codes = torch.zeros(w.shape, dtype=torch.int64)
    scales = torch.zeros(out_features, in_features // group_size, dtype=w.dtype)
    zeros = torch.zeros(out_features, in_features // group_size, dtype=torch.int64)
    for r in range(out_features):
        for g in range(in_features // group_size):
            group = w[r, g * group_size:(g + 1) * group_size]
            low, high = min(group.min().item(), 0.0), max(group.max().item(), 0.0)
            scale = torch.tensor((high - low) / qmax if high > low else 1.0, dtype=w.dtype)
            zero = min(max(round(-low / scale.item()), 0), qmax)
            scales[r, g], zeros[r, g] = scale, zero
            codes[r, g * group_size:(g + 1) * group_size] = torch.clamp(
                torch.round(group / scale) + zero, 0, qmax)
    return codes, scales, zeros


def assert_format(result, w, bits, group_size, what):
    assert isinstance(result, tuple) and len(result) == 3, (
        _("{what} returned {result_text}; expected (codes, scales, zeros).").format(
          what=what, result_text=describe(result)))
    codes, scales, zeros = result
    n_groups = w.shape[1] // group_size
    assert isinstance(codes, torch.Tensor) and codes.shape == w.shape and \
        not codes.is_floating_point() and codes.dtype != torch.bool, (
        _("{what} returned codes {codes_text}; expected an integer tensor of shape "
          "{w_shape}.").format(what=what, codes_text=describe(codes), w_shape=tuple(w.shape)))
    assert isinstance(scales, torch.Tensor) and scales.shape == (w.shape[0], n_groups) and \
        scales.dtype == w.dtype, (
        _("{what} returned scales {scales_text}; expected {w_dtype} of shape "
          "{w_shape_0_n_groups}.").format(
          what=what, scales_text=describe(scales), w_dtype=w.dtype,
          w_shape_0_n_groups=(w.shape[0], n_groups)))
    assert isinstance(zeros, torch.Tensor) and zeros.shape == (w.shape[0], n_groups) and \
        not zeros.is_floating_point() and zeros.dtype != torch.bool, (
        _("{what} returned zeros {zeros_text}; expected an integer tensor of shape "
          "{w_shape_0_n_groups}.").format(
          what=what, zeros_text=describe(zeros), w_shape_0_n_groups=(w.shape[0], n_groups)))
    qmax = 2 ** bits - 1
    assert 0 <= codes.min().item() and codes.max().item() <= qmax and \
        0 <= zeros.min().item() and zeros.max().item() <= qmax, (
        _("{what}: codes and zero points must lie in [0, {qmax}].").format(what=what, qmax=qmax))
    return codes, scales, zeros


def near_tie(values, scales, group_size):
    """Entries whose w / scale sits within round-off of a .5 boundary."""
    ratio = values.double() / scales.double().repeat_interleave(group_size, dim=1)
    return ((ratio - ratio.floor()) - 0.5).abs() < 1e-4


@pytest.mark.exercise("quantize_groupwise", points=3, check="main property", weight=2)
@settings(max_examples=40, phases=NO_SHRINK)
@given(out_f=st.integers(1, 8), n_groups=st.integers(1, 4), group=st.sampled_from([1, 2, 4, 8,
                                                                                     16, 32]),
       bits=st.integers(1, 8), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 10_000),
       shift=st.sampled_from([0.0, 0.0, 2.0, -3.0]))
def test_quantize_groupwise_matches_definition(nb, out_f, n_groups, group, bits, dtype, seed,
                                               shift):
    g = torch.Generator().manual_seed(seed)
    w = (torch.randn(out_f, n_groups * group, generator=g, dtype=torch.float64) + shift).to(dtype)
    what = _("quantize_groupwise({dtype} w of shape {w_shape}, bits={bits}, "
             "group_size={group})").format(
             dtype=dtype, w_shape=tuple(w.shape), bits=bits, group=group)
    codes, scales, zeros = assert_format(call(nb.quantize_groupwise, w, bits, group), w, bits,
                                         group, what)
    ref_codes, ref_scales, ref_zeros = reference_groupwise(w, bits, group)
    assert torch.allclose(scales.double(), ref_scales.double(), rtol=1e-5, atol=0), (
        _("{what}: scales {scales_text} differ from (max(group max, 0) - min(group min, "
          "0)) / (2**bits - 1) = {ref_scales_text}.").format(
          what=what, scales_text=describe(scales), ref_scales_text=describe(ref_scales)))
    assert (zeros - ref_zeros).abs().max().item() <= 1, (
        _("{what}: zero points {zeros_text}; expected round(-min(group min, 0) / scale) "
          "= {ref_zeros_text}.").format(
          what=what, zeros_text=describe(zeros), ref_zeros_text=describe(ref_zeros)))
    settled = ~near_tie(w, ref_scales, group) & (zeros == ref_zeros).repeat_interleave(group, 1)
    mismatch = (codes != ref_codes) & settled
    assert not mismatch.any(), (
        _("{what}: {int_mismatch_sum} codes differ from clamp(round(w / scale) + zero, "
          "0, 2**bits - 1); first at {first_index}: got "
          "{codes_mismatch_0_value}, expected {ref_codes_mismatch_0_value}.").format(
          what=what, int_mismatch_sum=int(mismatch.sum()),
          first_index=tuple(mismatch.nonzero()[0].tolist()),
          codes_mismatch_0_value=codes[mismatch][0].item(),
          ref_codes_mismatch_0_value=ref_codes[mismatch][0].item()))
    restored = dequantize_groupwise(codes, scales, zeros, group).double()
    step = scales.double().repeat_interleave(group, dim=1)
    assert ((restored - w.double()).abs() <= step * (0.5 + 1e-4)).all(), (
        _("{what}: (codes - zero) * scale is more than half a step from w somewhere.").format(
          what=what))


@pytest.mark.exercise("quantize_groupwise", points=3, check="edge cases", weight=1)
def test_quantize_groupwise_edge_cases(nb):
    w = torch.tensor([[3.0, 3.0, 3.0, 3.0, 0.0, 0.0, 0.0, 0.0, -2.0, -2.0, -2.0, -2.0]])
    what = "quantize_groupwise([[3]*4 + [0]*4 + [-2]*4], bits=2, group_size=4)"
    codes, scales, zeros = assert_format(call(nb.quantize_groupwise, w, 2, 4), w, 2, 4, what)
    restored = dequantize_groupwise(codes, scales, zeros, 4)
    assert torch.allclose(restored, w, atol=1e-6) and scales[0, 1].item() == 1.0, (
        _("{what} restored {restored_0_list} with scales {scales_0_list}; constant "
          "groups are exact (0 is always in the range) and an all-zero group gets scale "
          "1.0.").format(
          what=what, restored_0_list=restored[0].tolist(), scales_0_list=scales[0].tolist()))
    assert torch.all(restored[0, 4:8] == 0), _("{what}: zeros must be restored exactly.").format(
                                               what=what)
    w = torch.tensor([[0.5, 1.5, 2.5, -0.5]])
    codes, scales, zeros = assert_format(call(nb.quantize_groupwise, w, 8, 4), w, 8, 4,
                                         "quantize_groupwise(bits=8)")
    w = torch.randn(3, 10, generator=torch.Generator().manual_seed(1))
    for bits in (1, 8):
        what = f"quantize_groupwise(w (3, 10), bits={bits}, group_size=10)"
        codes, scales, zeros = assert_format(call(nb.quantize_groupwise, w, bits, 10), w, bits,
                                             10, what)
        ref = reference_groupwise(w, bits, 10)
        assert torch.equal(codes, ref[0].to(codes.dtype)), (
            _("{what} returned codes {codes_list}; expected {ref_0_list}.").format(
              what=what, codes_list=codes.tolist(), ref_0_list=ref[0].tolist()))
    # A zero weight is always restored exactly: 0 lies on the grid.
    w = torch.tensor([[0.0, 0.7, -0.3, 1.1, 0.0, -2.0, 0.4, 0.0]])
    codes, scales, zeros = assert_format(call(nb.quantize_groupwise, w, 3, 8), w, 3, 8,
                                         "quantize_groupwise(bits=3, group_size=8)")
    restored = dequantize_groupwise(codes, scales, zeros, 8)
    assert torch.all(restored[w == 0] == 0), (
        _("quantize_groupwise(w with zeros, bits=3, group_size=8): a zero weight must "
          "be restored as exactly 0 (zero point = round(-low / scale)); got "
          "{restored_w_0_list}.").format(restored_w_0_list=restored[w == 0].tolist()))


@pytest.mark.exercise("quantize_groupwise", points=3, check="errors", weight=1)
def test_quantize_groupwise_errors(nb):
    w = torch.randn(4, 12)
    for bits in (0, -1, 9, 16):
        expect_value_error(nb.quantize_groupwise, w, bits, 4, argument="bits")
    for group in (0, -4, 5, 24, 7):
        expect_value_error(nb.quantize_groupwise, w, 4, group, argument="group_size")
    for bad in (torch.randn(12), torch.randn(2, 3, 4)):
        expect_value_error(nb.quantize_groupwise, bad, 4, 4, argument="w")


# --------------------------------------------------------------------- gptq_quantize

def reference_gptq(w, hessian, bits, group_size, damp):
    """GPTQ written out: after quantizing column j, solve for the best update of the later
    columns with the inverse Hessian, and remove column j from the inverse (Gaussian
    elimination, the OBQ form), all in float64. Dequantized weights [out, in]."""
    W = w.double().clone()
    H = hessian.double().clone()
    n = H.shape[0]
    H += damp * H.diagonal().mean() * torch.eye(n, dtype=torch.float64)
    H_inv = torch.linalg.inv(H)
    qmax = 2 ** bits - 1
    restored = torch.zeros_like(W)
    for j in range(n):
        if j % group_size == 0:
            group = W[:, j:j + group_size]
            low = group.amin(dim=1).clamp(max=0)
            high = group.amax(dim=1).clamp(min=0)
            scale = torch.where(high > low, (high - low) / qmax, torch.ones_like(high))
            zero = torch.round(-low / scale).clamp(0, qmax)
        q = torch.clamp(torch.round(W[:, j] / scale) + zero, 0, qmax)
        restored[:, j] = (q - zero) * scale
        error = (W[:, j] - restored[:, j]) / H_inv[j, j]
        W[:, j:] -= error[:, None] * H_inv[j, j:][None, :]
        H_inv = H_inv - H_inv[:, j:j + 1] @ H_inv[j:j + 1, :] / H_inv[j, j]
    return restored


def calibration(seed, n_in, n_samples=256):
    """Correlated inputs X [in, n] with uneven channel scales, and H = 2 X X^T / n."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(n_in, n_in, generator=g, dtype=torch.float64) / math.sqrt(n_in) + \
        torch.eye(n_in, dtype=torch.float64)
    X = mix @ (torch.randn(n_in, n_samples, generator=g, dtype=torch.float64) *
               (torch.rand(n_in, 1, generator=g, dtype=torch.float64) * 3 + 0.1))
    return X, 2 * X @ X.T / n_samples


def output_error(restored, w, X):
    return ((restored.double() - w.double()) @ X.double()).square().sum().item()


@pytest.mark.exercise("gptq_quantize", points=4, check="main property", weight=2)
@settings(max_examples=20, phases=NO_SHRINK)
@given(out_f=st.integers(1, 6), n_groups=st.integers(1, 3), group=st.sampled_from([1, 2, 4, 8]),
       bits=st.integers(2, 4), seed=st.integers(0, 10_000),
       damp=st.sampled_from([0.0, 0.01, 0.1]))
def test_gptq_matches_small_reference(nb, out_f, n_groups, group, bits, seed, damp):
    n_in = n_groups * group
    X, H = calibration(seed, n_in)
    w = torch.randn(out_f, n_in, generator=torch.Generator().manual_seed(seed + 1),
                    dtype=torch.float64)
    what = (_("gptq_quantize(float64 w of shape {w_shape}, hessian of correlated "
              "inputs, bits={bits}, group_size={group}, damp={damp})").format(
              w_shape=tuple(w.shape), bits=bits, group=group, damp=damp))
    codes, scales, zeros = assert_format(call(nb.gptq_quantize, w, H, bits, group, damp), w,
                                         bits, group, what)
    restored = dequantize_groupwise(codes, scales, zeros, group)
    expected = reference_gptq(w, H, bits, group, damp)
    same = torch.isclose(restored, expected, rtol=1e-6, atol=1e-9)
    got_error, ref_error = output_error(restored, w, X), output_error(expected, w, X)
    assert same.double().mean().item() >= 0.95 and got_error <= ref_error * 1.02 + 1e-9, (
        _("{what}: {int_same_sum} of {same_numel} restored weights differ from GPTQ's "
          "(calibration error {got_error:.5g}, GPTQ's {ref_error:.5g}). Quantize column "
          "j with its group's scale (from the group's current, already-updated "
          "weights), divide its error by U[j, j] and subtract error * U[j, j+1:] from "
          "the later columns, U the upper Cholesky factor of (H + damp * mean(diag H) * "
          "I)^-1.").format(
          what=what, int_same_sum=int((~same).sum()), same_numel=same.numel(),
          got_error=got_error, ref_error=ref_error))


@pytest.mark.exercise("gptq_quantize", points=4, check="main property", weight=2)
@pytest.mark.parametrize("bits, group, seed", [(2, 16, 0), (3, 16, 1), (3, 32, 2), (4, 8, 3),
                                               (3, 64, 4)])
def test_gptq_beats_round_to_nearest_on_calibration_data(nb, bits, group, seed):
    n_in = 64
    X, H = calibration(seed, n_in, n_samples=1024)
    X, H = X.float(), H.float()
    w = torch.randn(24, n_in, generator=torch.Generator().manual_seed(seed + 7))
    what = f"gptq_quantize(w (24, 64), hessian, bits={bits}, group_size={group}, damp=0.01)"
    codes, scales, zeros = assert_format(call(nb.gptq_quantize, w, H, bits, group, 0.01), w,
                                         bits, group, what)
    gptq_error = output_error(dequantize_groupwise(codes, scales, zeros, group), w, X)
    rtn = reference_groupwise(w, bits, group)
    rtn_error = output_error(dequantize_groupwise(*rtn, group), w, X)
    assert gptq_error <= rtn_error, (
        _("{what}: calibration error ||(W_q - W) X||^2 = {gptq_error:.5g}, not below "
          "round to nearest's {rtn_error:.5g}.").format(
          what=what, gptq_error=gptq_error, rtn_error=rtn_error))


@pytest.mark.exercise("gptq_quantize", points=4, check="worked example", weight=1)
def test_gptq_worked_example_and_identity_hessian(nb):
    example = GPTQ_WORKED_EXAMPLE
    w, H = torch.tensor(example["w"]), torch.tensor(example["hessian"])
    codes, _unused, _unused = assert_format(call(nb.gptq_quantize, w, H, 1, 3, 0.0), w, 1, 3,
                                            _("gptq_quantize(worked example)"))
    assert codes.tolist() == example["codes"], (
        _("gptq_quantize(w=[[0.4, 0.3, 1.0]], hessian=[[2,1,0],[1,2,1],[0,1,2]], "
          "bits=1, group_size=3, damp=0.0) returned {codes_list}; expected "
          "{example_codes}.").format(codes_list=codes.tolist(), example_codes=example['codes']))
    w = torch.randn(5, 12, generator=torch.Generator().manual_seed(9))
    for group in (3, 12):
        codes, scales, zeros = assert_format(
            call(nb.gptq_quantize, w, torch.eye(12) * 2.0, 3, group, 0.0), w, 3, group,
            _("gptq_quantize(identity Hessian)"))
        ref = reference_groupwise(w, 3, group)
        restored = dequantize_groupwise(codes, scales, zeros, group)
        assert torch.allclose(restored, dequantize_groupwise(*ref, group), atol=1e-5), (
            _("gptq_quantize(w (5, 12), hessian=2*I, bits=3, group_size={group}, "
              "damp=0.0): with uncorrelated inputs there is nothing to compensate, so "
              "GPTQ must equal round to nearest (quantize_groupwise).").format(group=group))


@pytest.mark.exercise("gptq_quantize", points=4, check="errors", weight=1)
def test_gptq_errors(nb):
    w, H = torch.randn(3, 8), torch.eye(8)
    for bad in (torch.eye(6), torch.eye(8)[:, :6], torch.ones(8)):
        expect_value_error(nb.gptq_quantize, w, bad, 4, 4, 0.01, argument="hessian")
    for bits in (0, 9):
        expect_value_error(nb.gptq_quantize, w, H, bits, 4, 0.01, argument="bits")
    for group in (0, 3, 16):
        expect_value_error(nb.gptq_quantize, w, H, 4, group, 0.01, argument="group_size")
    expect_value_error(nb.gptq_quantize, w, H, 4, 4, -0.01, argument="damp")


# --------------------------------------------------------------------- smoothquant_scales

@pytest.mark.exercise("smoothquant_scales", points=2, check="main property", weight=2)
@settings(max_examples=40, phases=NO_SHRINK)
@given(n=st.integers(1, 64), alpha=st.floats(0.0, 1.0), seed=st.integers(0, 10_000),
       dtype=st.sampled_from(DTYPES))
def test_smoothquant_scales_formula(nb, n, alpha, seed, dtype):
    g = torch.Generator().manual_seed(seed)
    act = (torch.rand(n, generator=g, dtype=torch.float64) * 50 + 1e-3).to(dtype)
    weight = (torch.rand(n, generator=g, dtype=torch.float64) * 2 + 1e-3).to(dtype)
    s = call(nb.smoothquant_scales, act, weight, alpha)
    what = _("smoothquant_scales({n} {dtype} maxima, alpha={alpha!r})").format(
             n=n, dtype=dtype, alpha=alpha)
    assert isinstance(s, torch.Tensor) and s.shape == (n,) and s.dtype == dtype, (
        _("{what} returned {s_text}; expected {dtype} of shape ({n},).").format(
          what=what, s_text=describe(s), dtype=dtype, n=n))
    log_expected = alpha * act.double().log() - (1 - alpha) * weight.double().log()
    assert torch.allclose(s.double().log(), log_expected, atol=1e-4), (
        _("{what}: expected s_j = max|X_j|**alpha / max|W_j|**(1 - alpha), e.g. "
          "{expected_0:.6g} for channel 0; got {s_0_value:.6g}.").format(
          what=what, expected_0=math.exp(log_expected[0].item()),
          s_0_value=s[0].item()))


@pytest.mark.exercise("smoothquant_scales", points=2, check="edge cases", weight=1)
def test_smoothquant_scales_edge_cases(nb):
    act, weight = torch.tensor([0.0, 4.0, 2.0, 0.0]), torch.tensor([1.0, 0.0, 2.0, 0.0])
    for alpha in (0.0, 0.5, 1.0):
        s = call(nb.smoothquant_scales, act, weight, alpha)
        expected = act.clamp(min=1e-5).double() ** alpha / weight.clamp(min=1e-5).double() ** (
            1 - alpha)
        assert isinstance(s, torch.Tensor) and torch.isfinite(s).all() and (s > 0).all() and \
            torch.allclose(s.double(), expected, rtol=1e-4), (
            _("smoothquant_scales([0, 4, 2, 0], [1, 0, 2, 0], alpha={alpha}) returned "
              "{s_text}; expected {expected_list} (both maxima clamped to >= 1e-5).").format(
              alpha=alpha, s_text=describe(s), expected_list=expected.tolist()))


@pytest.mark.exercise("smoothquant_scales", points=2, check="errors", weight=1)
def test_smoothquant_scales_errors(nb):
    act, weight = torch.rand(6) + 0.1, torch.rand(6) + 0.1
    for alpha in (-0.01, 1.01, 2.0):
        expect_value_error(nb.smoothquant_scales, act, weight, alpha, argument="alpha")
    for bad in (torch.rand(5), torch.rand(7), torch.rand(2, 3)):
        expect_value_error(nb.smoothquant_scales, act, bad, 0.5, argument="weight_absmax")
    expect_value_error(nb.smoothquant_scales, -act, weight, 0.5, argument="act_absmax")
    expect_value_error(nb.smoothquant_scales, act.reshape(2, 3), weight.reshape(2, 3), 0.5,
                       argument="act_absmax")
    expect_value_error(nb.smoothquant_scales, act, -weight, 0.5, argument="weight_absmax")
