"""Hidden checks of lesson 04: low_rank_factors, rank_for_energy, factorize_linear and
factorize_conv.

References are computed here, independently of the submission: the optimal error from
``torch.linalg.svdvals`` (Eckart-Young), the truncated SVD from ``torch.linalg.svd`` in
float64, and energy ranks in exact rational arithmetic (``fractions.Fraction``).
"""

import math
from fractions import Fraction

import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from torch import nn

from compress_course.checks import (
    call,
    check_factorized_structure,
    composite_weight,
    eckart_young_error,
    expect_value_error,
    training_leaves_original,
)
from compress_course.i18n import _

NOTEBOOK = "04_low_rank"
DTYPES = [torch.float32, torch.float64]
KINDS = ["gaussian", "rank_deficient", "decaying", "repeated", "constant"]
# No shrinking: a failing example is reported as found, so a wrong answer fails in seconds
# instead of running into the per-check time limit while hypothesis minimises it.
NO_SHRINK = [Phase.explicit, Phase.generate]


@pytest.fixture(scope="module")
def nb(submission):
    return submission.load(NOTEBOOK)


def make_matrix(kind: str, m: int, n: int, seed: int, dtype: torch.dtype) -> torch.Tensor:
    """An m x n test matrix with a known kind of spectrum."""
    g = torch.Generator().manual_seed(seed)
    k = min(m, n)
    if kind == "gaussian":
        W = torch.randn(m, n, generator=g, dtype=torch.float64)
    elif kind == "rank_deficient":
        true_rank = 1 + seed % k
        W = torch.randn(m, true_rank, generator=g, dtype=torch.float64) @ \
            torch.randn(true_rank, n, generator=g, dtype=torch.float64)
    elif kind == "constant":
        W = torch.full((m, n), 0.5 + seed % 7, dtype=torch.float64)
    else:
        U, _ = torch.linalg.qr(torch.randn(m, k, generator=g, dtype=torch.float64))
        V, _ = torch.linalg.qr(torch.randn(n, k, generator=g, dtype=torch.float64))
        if kind == "decaying":
            sigma = 0.6 ** torch.arange(k, dtype=torch.float64) * 10
        else:  # repeated singular values: ties at every truncation point in pairs
            sigma = torch.tensor([3.0 - (i // 2) * 0.5 for i in range(k)],
                                 dtype=torch.float64).clamp(min=0.25)
        W = (U * sigma) @ V.T
    return W.to(dtype)


def truncated_svd(W: torch.Tensor, rank: int) -> tuple[torch.Tensor, bool]:
    """The rank-``rank`` truncated SVD of W in float64, and whether it is unique (a gap
    between sigma_rank and sigma_rank+1, or nothing dropped)."""
    U, S, Vh = torch.linalg.svd(W.double(), full_matrices=False)
    unique = rank >= len(S) or S[rank - 1] - S[rank] > 1e-2 * S[0] or S[rank] < 1e-9 * S[0]
    return (U[:, :rank] * S[:rank]) @ Vh[:rank], bool(unique)


def tolerance(dtype: torch.dtype) -> float:
    return 1e-4 if dtype == torch.float32 else 1e-9


matrices = st.tuples(st.sampled_from(KINDS), st.integers(1, 40), st.integers(1, 40),
                     st.integers(0, 10_000), st.sampled_from(DTYPES))


# --------------------------------------------------------------------- low_rank_factors

@pytest.mark.exercise("low_rank_factors", points=3, check="main property", weight=2)
@settings(max_examples=60, phases=NO_SHRINK)
@given(matrix=matrices, data=st.data())
def test_low_rank_factors_is_the_best_approximation(nb, matrix, data):
    kind, m, n, seed, dtype = matrix
    W = make_matrix(kind, m, n, seed, dtype)
    rank = data.draw(st.integers(1, min(m, n)), label="rank")
    what = _("low_rank_factors({kind} {dtype} matrix of shape {m_n}, rank={rank})").format(
             kind=kind, dtype=dtype, m_n=(m, n), rank=rank)
    result = call(nb.low_rank_factors, W, rank)
    assert isinstance(result, tuple) and len(result) == 2, \
        _("{what} returned {result_type}; expected a tuple (A, B).").format(
          what=what, result_type=type(result).__name__)
    A, B = result
    assert tuple(A.shape) == (m, rank) and tuple(B.shape) == (rank, n), (
        _("{what} returned A {a_shape}, B {b_shape}; expected A {m_rank} and B {rank_n}.").format(
          what=what, a_shape=tuple(A.shape), b_shape=tuple(B.shape), m_rank=(m, rank),
          rank_n=(rank, n)))
    assert A.dtype == dtype and B.dtype == dtype, \
        _("{what} returned dtypes {a_dtype}, {b_dtype}; expected {dtype}.").format(
          what=what, a_dtype=A.dtype, b_dtype=B.dtype, dtype=dtype)
    product = A.detach().double() @ B.detach().double()
    norm = torch.linalg.matrix_norm(W.double()).item() + 1e-12
    error = torch.linalg.matrix_norm(W.double() - product).item()
    best = eckart_young_error(W, rank)
    assert abs(error - best) <= tolerance(dtype) * norm, (
        _("{what}: ||W - A @ B||_F = {error:.6g}; the best rank-{rank} error "
          "(Eckart-Young, the tail of the singular values) is {best:.6g}.").format(
          what=what, error=error, rank=rank, best=best))
    reference, unique = truncated_svd(W, rank)
    if unique:
        gap = torch.linalg.matrix_norm(product - reference).item()
        assert gap <= 10 * tolerance(dtype) * norm, (
            _("{what}: A @ B differs from the truncated SVD U_r S_r V_r^T by {gap:.3g} "
              "in Frobenius norm.").format(what=what, gap=gap))


@pytest.mark.exercise("low_rank_factors", points=3, check="edge cases", weight=1)
@settings(max_examples=40, phases=NO_SHRINK)
@given(m=st.integers(1, 30), n=st.integers(1, 30), seed=st.integers(0, 1000),
       dtype=st.sampled_from(DTYPES))
def test_low_rank_factors_exact_at_full_rank(nb, m, n, seed, dtype):
    W = make_matrix("gaussian", m, n, seed, dtype)
    rank = min(m, n)
    A, B = call(nb.low_rank_factors, W, rank)
    gap = (A.detach() @ B.detach() - W).abs().max().item()
    assert gap <= 1e3 * tolerance(dtype) * (1 + W.abs().max().item()), (
        _("low_rank_factors({dtype} matrix of shape {m_n}, rank={rank}) is full rank, "
          "so A @ B must reproduce W; the largest difference is {gap:.3g}.").format(
          dtype=dtype, m_n=(m, n), rank=rank, gap=gap))


@pytest.mark.exercise("low_rank_factors", points=3, check="edge cases", weight=1)
def test_low_rank_factors_edge_cases(nb):
    layer = nn.Linear(5, 3)
    A, B = call(nb.low_rank_factors, layer.weight, 2)  # a Parameter that requires grad
    assert tuple(A.shape) == (3, 2) and tuple(B.shape) == (2, 5), \
        _("low_rank_factors(a Linear(5, 3) weight, rank=2) returned the wrong shapes.")
    for shape in [(1, 1), (1, 7), (7, 1)]:
        W = torch.arange(1.0, 1.0 + math.prod(shape)).reshape(shape)
        A, B = call(nb.low_rank_factors, W, 1)
        assert torch.allclose(A @ B, W, atol=1e-5), \
            _("low_rank_factors(matrix of shape {shape}, rank=1) must reproduce it "
              "exactly.").format(shape=shape)


@pytest.mark.exercise("low_rank_factors", points=3, check="errors", weight=1)
def test_low_rank_factors_rejects_bad_arguments(nb):
    for shape, rank in [((4, 6), 0), ((4, 6), -1), ((4, 6), 5), ((6, 4), 5), ((3, 3), 4),
                        ((1, 9), 2)]:
        expect_value_error(nb.low_rank_factors, torch.randn(shape), rank, argument="rank")
    for bad in (torch.randn(5), torch.randn(2, 3, 4)):
        expect_value_error(nb.low_rank_factors, bad, 1, argument="W")


# --------------------------------------------------------------------- rank_for_energy

def exact_rank(values: list[float], energy: float) -> int:
    """Smallest r >= 1 with sum of the first r squares >= energy * total, exactly."""
    squares = [Fraction(v) ** 2 for v in values]
    target = Fraction(energy) * sum(squares)
    held = Fraction(0)
    for r, square in enumerate(squares, start=1):
        held += square
        if held >= target:
            return r
    return len(values)


def held_fraction(values: list[float], r: int) -> float:
    squares = [Fraction(v) ** 2 for v in values]
    total = sum(squares)
    return 1.0 if total == 0 else float(sum(squares[:r]) / total)


MAIN_CASES = [
    ([4.0, 3.0, 2.0, 1.0], 0.5, 1), ([4.0, 3.0, 2.0, 1.0], 0.54, 2),
    ([4.0, 3.0, 2.0, 1.0], 0.9, 3), ([2.0, 1.0, 1.0, 1.0, 1.0], 0.5, 1),
    ([5.0], 0.3, 1),
]
# energy 0 and 1, ties exactly at the target ("at least" means >=), zeros, all-zero input
EDGE_CASES = [
    ([4.0, 3.0, 2.0, 1.0], 0.0, 1), ([4.0, 3.0, 2.0, 1.0], 1.0, 4),
    ([1.0, 1.0, 1.0, 1.0], 0.25, 1), ([1.0, 1.0, 1.0, 1.0], 0.5, 2),
    ([1.0, 1.0, 1.0, 1.0], 0.75, 3), ([1.0, 1.0, 1.0, 1.0], 0.5000001, 3),
    ([2.0, 1.0, 1.0, 1.0, 1.0], 0.625, 2), ([2.0, 1.0, 1.0, 1.0, 1.0], 0.75, 3),
    ([2.0, 1.0, 1.0, 1.0, 1.0], 0.7500001, 4),
    ([5.0], 1.0, 1), ([3.0, 0.0, 0.0], 1.0, 1), ([3.0, 0.0, 0.0], 0.0, 1),
    ([2.0, 2.0, 0.0, 0.0], 1.0, 2), ([0.0, 0.0, 0.0], 0.7, 1), ([0.0], 1.0, 1),
]


def check_exact_case(nb, values, energy, expected, dtype):
    got = call(nb.rank_for_energy, torch.tensor(values, dtype=dtype), energy)
    assert isinstance(got, int) and not isinstance(got, bool), (
        _("rank_for_energy({values}, energy={energy}) returned {got!r} of type "
          "{got_type}; expected a Python int.").format(
          values=values, energy=energy, got=got, got_type=type(got).__name__))
    assert got == expected, (
        _("rank_for_energy({dtype} {values}, energy={energy}) returned {got}; expected "
          "{expected}: the smallest r >= 1 whose leading squared singular values hold "
          "at least (>=) {energy} of the total.").format(
          dtype=dtype, values=values, energy=energy, got=got, expected=expected))


@pytest.mark.exercise("rank_for_energy", points=3, check="main property", weight=2)
@pytest.mark.parametrize("values, energy, expected", MAIN_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_rank_for_energy_exact_cases(nb, values, energy, expected, dtype):
    check_exact_case(nb, values, energy, expected, dtype)


@pytest.mark.exercise("rank_for_energy", points=3, check="edge cases", weight=1)
@pytest.mark.parametrize("values, energy, expected", EDGE_CASES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_rank_for_energy_edge_cases_and_ties(nb, values, energy, expected, dtype):
    check_exact_case(nb, values, energy, expected, dtype)


descending = st.lists(st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0]),
                                 st.floats(0.0, 100.0, width=32)),
                      min_size=1, max_size=60).map(lambda v: sorted(v, reverse=True))


@pytest.mark.exercise("rank_for_energy", points=3, check="main property", weight=2)
@settings(max_examples=100, phases=NO_SHRINK)
@given(values=descending, energy=st.floats(0.0, 1.0), dtype=st.sampled_from(DTYPES))
def test_rank_for_energy_property(nb, values, energy, dtype):
    tensor = torch.tensor(values, dtype=dtype)
    got = call(nb.rank_for_energy, tensor, energy)
    what = _("rank_for_energy({len_values} {dtype} values, energy={energy!r})").format(
             len_values=len(values), dtype=dtype, energy=energy)
    assert isinstance(got, int) and 1 <= got <= len(values), \
        _("{what} returned {got!r}; expected an int in [1, {len_values}].").format(
          what=what, got=got, len_values=len(values))
    expected = exact_rank(values, energy)
    slack = 1e-6  # round-off may move the answer only when the boundary is this close
    if got != expected:
        assert held_fraction(values, got) >= energy - slack and (
            got == 1 or held_fraction(values, got - 1) < energy + slack), (
            _("{what} returned {got}; expected {expected} (the leading {got} squared "
              "values hold {held_fraction_values_got:.6f} of the energy, the leading "
              "{expected} hold {held_fraction_values_expecte:.6f}).").format(
              what=what, got=got, expected=expected,
              held_fraction_values_got=held_fraction(values, got),
              held_fraction_values_expecte=held_fraction(values, expected)))


@pytest.mark.exercise("rank_for_energy", points=3, check="edge cases", weight=1)
@settings(max_examples=60, phases=NO_SHRINK)
@given(m=st.integers(1, 200), n=st.integers(1, 200), seed=st.integers(0, 10_000))
def test_rank_for_energy_full_energy_is_robust_to_round_off(nb, m, n, seed):
    g = torch.Generator().manual_seed(seed)
    sigma = torch.linalg.svdvals(torch.randn(m, n, generator=g))  # float32, none negligible
    got = call(nb.rank_for_energy, sigma, 1.0)
    assert got == len(sigma), (
        _("rank_for_energy(the {len_sigma} float32 singular values of a random {m}x{n} "
          "matrix, energy=1.0) returned {got}; expected {len_sigma}. A float32 "
          "cumulative sum can end slightly below a separately computed total: compare "
          "with the cumulative sum's own last entry.").format(
          len_sigma=len(sigma), m=m, n=n, got=got))


@pytest.mark.exercise("rank_for_energy", points=3, check="errors", weight=1)
def test_rank_for_energy_rejects_bad_arguments(nb):
    s = torch.tensor([3.0, 2.0, 1.0])
    for energy in (-0.01, 1.01, 2.0, -1.0):
        expect_value_error(nb.rank_for_energy, s, energy, argument="energy")
    for bad in ([1.0, 2.0, 3.0], [3.0, 1.0, 2.0], [1.0, 1.0, 2.0], [3.0, -1.0], []):
        expect_value_error(nb.rank_for_energy, torch.tensor(bad), 0.5,
                           argument="singular_values")
    expect_value_error(nb.rank_for_energy, torch.ones(2, 2), 0.5, argument="singular_values")


# --------------------------------------------------------------------- factorize_linear

def train_result_in_child(factorize, layer, rank, x):
    """Runs where the learner's code runs (the grader's child process): factorize, take one
    SGD step on the result, and send back the original layer's parameters as they are there.
    A result that shares memory with ``layer`` shows up here; the copies the sandbox sends
    back to this process would hide it."""
    result = factorize(layer, rank)
    optimizer = torch.optim.SGD(result.parameters(), lr=0.1)
    result(x).square().sum().backward()
    optimizer.step()
    return [p.detach().clone() for p in layer.parameters()]


def training_in_child_leaves_original(function, layer, rank, x) -> bool:
    before = [p.detach().clone() for p in layer.parameters()]
    runner = getattr(function, "run_with", None)
    if runner is None:  # --in-process grading
        after = train_result_in_child(function, layer, rank, x)
    else:
        after = runner(train_result_in_child, layer, rank, x)
    return len(after) == len(before) and all(
        isinstance(a, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
        for a, b in zip(after, before, strict=True))


linear_layers = st.tuples(st.integers(1, 30), st.integers(1, 30), st.booleans(),
                          st.sampled_from(DTYPES), st.integers(0, 10_000))


def make_linear(n_in: int, n_out: int, bias: bool, dtype: torch.dtype, seed: int) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(n_in, n_out, bias=bias).to(dtype)


@pytest.mark.exercise("factorize_linear", points=2, check="layer structure", weight=1)
@settings(max_examples=30, phases=NO_SHRINK)
@given(spec=linear_layers, data=st.data())
def test_factorize_linear_layer_structure(nb, spec, data):
    n_in, n_out, bias, dtype, seed = spec
    layer = make_linear(n_in, n_out, bias, dtype, seed)
    rank = data.draw(st.integers(1, min(n_in, n_out)), label="rank")
    what = _("factorize_linear({layer!r} ({dtype}), rank={rank})").format(
             layer=layer, dtype=dtype, rank=rank)
    result = call(nb.factorize_linear, layer, rank)
    check_factorized_structure(result, layer, rank, what)
    first, second = result
    assert (first.in_features, first.out_features, second.in_features,
            second.out_features) == (n_in, rank, rank, n_out), (
        _("{what} returned {first!r} then {second!r}; expected Linear({n_in}, {rank}) "
          "then Linear({rank}, {n_out}).").format(
          what=what, first=first, second=second, n_in=n_in, rank=rank, n_out=n_out))
    x = torch.randn(4, n_in, dtype=dtype)
    assert training_leaves_original(layer, result, x), \
        _("{what}: a training step on the factorization changed the original layer.").format(
          what=what)
    assert training_in_child_leaves_original(nb.factorize_linear, layer, rank, x), (
        _("{what}: a training step on the factorization changed the original layer: the "
          "new layers must own copies of the numbers (no parameter, e.g. the bias, may "
          "be shared).").format(what=what))


@pytest.mark.exercise("factorize_linear", points=2, check="main property", weight=2)
@settings(max_examples=60, phases=NO_SHRINK)
@given(spec=linear_layers, data=st.data())
def test_factorize_linear_matches_truncated_svd(nb, spec, data):
    n_in, n_out, bias, dtype, seed = spec
    layer = make_linear(n_in, n_out, bias, dtype, seed)
    rank = data.draw(st.one_of(st.just(min(n_in, n_out)), st.integers(1, min(n_in, n_out))),
                     label="rank")
    what = _("factorize_linear({layer!r} ({dtype}), rank={rank})").format(
             layer=layer, dtype=dtype, rank=rank)
    result = call(nb.factorize_linear, layer, rank)
    assert isinstance(result, nn.Sequential) and len(result) == 2, \
        _("{what} returned {result_type}; expected nn.Sequential of two Linear layers.").format(
          what=what, result_type=type(result).__name__)
    W = layer.weight.detach()
    norm = torch.linalg.matrix_norm(W.double()).item() + 1e-12
    error = torch.linalg.matrix_norm(W.double() - composite_weight(result)).item()
    assert abs(error - eckart_young_error(W, rank)) <= tolerance(dtype) * norm, (
        _("{what}: the two layers multiply to a matrix at distance {error:.6g} from the "
          "weight; the best rank-{rank} distance is {eckart_young_error_w_rank:.6g}.").format(
          what=what, error=error, rank=rank,
          eckart_young_error_w_rank=eckart_young_error(W, rank)))
    x = torch.randn(4, n_in, dtype=dtype)
    reference, unique = truncated_svd(W, rank)
    if unique:
        expected = x.double() @ reference.T
        if bias:
            expected = expected + layer.bias.detach().double()
        with torch.no_grad():
            got = result(x).double()
        assert torch.allclose(got, expected, atol=1e-3 if dtype == torch.float32 else 1e-9), (
            _("{what}: outputs differ from x @ W_r.T + bias (W_r the truncated SVD) by "
              "{got_expected_abs_max_value:.3g}.").format(
              what=what, got_expected_abs_max_value=(got - expected).abs().max().item()))
    if rank == min(n_in, n_out):
        with torch.no_grad():
            gap = (result(x) - layer(x)).abs().max().item()
        assert gap <= (1e-4 if dtype == torch.float32 else 1e-10), \
            _("{what} is full rank; it must compute what the layer computes (differs by "
              "{gap:.3g}).").format(what=what, gap=gap)


@pytest.mark.exercise("factorize_linear", points=2, check="errors", weight=1)
def test_factorize_linear_rejects_bad_rank(nb):
    for (n_in, n_out), rank in [((4, 6), 0), ((4, 6), 5), ((6, 4), 5), ((6, 4), -2)]:
        expect_value_error(nb.factorize_linear, nn.Linear(n_in, n_out), rank, argument="rank")


# --------------------------------------------------------------------- factorize_conv

pairs = st.tuples(st.integers(1, 3), st.integers(1, 3))
convs = st.fixed_dictionaries({
    "c_in": st.integers(1, 5), "c_out": st.integers(1, 8),
    "kernel": st.tuples(st.integers(1, 4), st.integers(1, 4)), "stride": pairs,
    "padding": st.tuples(st.integers(0, 2), st.integers(0, 2)),
    "dilation": st.tuples(st.integers(1, 2), st.integers(1, 2)), "bias": st.booleans(),
    "dtype": st.sampled_from(DTYPES), "extra": st.tuples(st.integers(0, 5), st.integers(0, 5)),
    "seed": st.integers(0, 10_000)})


def make_conv(spec: dict) -> tuple[nn.Conv2d, torch.Tensor]:
    """The conv ``spec`` describes and an input just large enough for it (plus ``extra``)."""
    torch.manual_seed(spec["seed"])
    conv = nn.Conv2d(spec["c_in"], spec["c_out"], spec["kernel"], stride=spec["stride"],
                     padding=spec["padding"], dilation=spec["dilation"],
                     bias=spec["bias"]).to(spec["dtype"])
    size = [spec["dilation"][i] * (spec["kernel"][i] - 1) + 1 + spec["extra"][i]
            for i in range(2)]
    return conv, torch.randn(2, spec["c_in"], *size, dtype=spec["dtype"])


def max_conv_rank(conv: nn.Conv2d) -> int:
    return min(conv.out_channels, conv.weight[0].numel())


@pytest.mark.exercise("factorize_conv", points=3, check="layer structure", weight=1)
@settings(max_examples=30, phases=NO_SHRINK)
@given(spec=convs, data=st.data())
def test_factorize_conv_layer_structure(nb, spec, data):
    conv, x = make_conv(spec)
    rank = data.draw(st.integers(1, max_conv_rank(conv)), label="rank")
    what = _("factorize_conv({conv!r} ({spec_dtype}), rank={rank})").format(
             conv=conv, spec_dtype=spec['dtype'], rank=rank)
    result = call(nb.factorize_conv, conv, rank)
    check_factorized_structure(result, conv, rank, what)
    first, second = result
    assert (first.in_channels, first.out_channels, first.kernel_size, first.stride,
            first.padding, first.dilation) == (conv.in_channels, rank, conv.kernel_size,
                                               conv.stride, conv.padding, conv.dilation), (
        _("{what} returned first layer {first!r}; expected Conv2d({conv_in_channels}, "
          "{rank}, kernel_size={conv_kernel_size}, stride={conv_stride}, "
          "padding={conv_padding}, dilation={conv_dilation}).").format(
          what=what, first=first, conv_in_channels=conv.in_channels, rank=rank,
          conv_kernel_size=conv.kernel_size, conv_stride=conv.stride, conv_padding=conv.padding,
          conv_dilation=conv.dilation))
    assert (second.in_channels, second.out_channels, second.kernel_size, second.stride,
            second.padding, second.dilation) == (rank, conv.out_channels, (1, 1), (1, 1),
                                                 (0, 0), (1, 1)), (
        _("{what} returned second layer {second!r}; expected Conv2d({rank}, "
          "{conv_out_channels}, kernel_size=1) with stride 1, no padding, no dilation.").format(
          what=what, second=second, rank=rank, conv_out_channels=conv.out_channels))
    assert training_leaves_original(conv, result, x), \
        _("{what}: a training step on the factorization changed the original conv.").format(
          what=what)
    assert training_in_child_leaves_original(nb.factorize_conv, conv, rank, x), (
        _("{what}: a training step on the factorization changed the original conv: the "
          "new layers must own copies of the numbers (no parameter, e.g. the bias, may "
          "be shared).").format(what=what))


@pytest.mark.exercise("factorize_conv", points=3, check="main property", weight=2)
@settings(max_examples=60, phases=NO_SHRINK)
@given(spec=convs, data=st.data())
def test_factorize_conv_matches_truncated_svd(nb, spec, data):
    conv, x = make_conv(spec)
    dtype, c_out = spec["dtype"], conv.out_channels
    max_rank = max_conv_rank(conv)
    rank = data.draw(st.one_of(st.just(max_rank), st.integers(1, max_rank)), label="rank")
    what = _("factorize_conv({conv!r} ({dtype}), rank={rank})").format(
             conv=conv, dtype=dtype, rank=rank)
    result = call(nb.factorize_conv, conv, rank)
    assert isinstance(result, nn.Sequential) and len(result) == 2, \
        _("{what} returned {result_type}; expected nn.Sequential of two Conv2d layers.").format(
          what=what, result_type=type(result).__name__)
    flat = conv.weight.detach().reshape(c_out, -1)
    norm = torch.linalg.matrix_norm(flat.double()).item() + 1e-12
    product = composite_weight(result)
    assert product.numel() == flat.numel(), (
        _("{what}: the two convs combine to a weight of shape {product_shape}; expected "
          "{conv_weight_shape}.").format(
          what=what, product_shape=tuple(product.shape),
          conv_weight_shape=tuple(conv.weight.shape)))
    error = torch.linalg.matrix_norm(flat.double() - product.reshape(c_out, -1)).item()
    assert abs(error - eckart_young_error(flat, rank)) <= tolerance(dtype) * norm, (
        _("{what}: the two convs combine to a weight at distance {error:.6g} from the "
          "original; the best rank-{rank} distance is "
          "{eckart_young_error_flat_rank:.6g}; check how B is reshaped to [rank, C_in, "
          "kh, kw] (the order of weight.reshape(C_out, -1)).").format(
          what=what, error=error, rank=rank,
          eckart_young_error_flat_rank=eckart_young_error(flat, rank)))
    reference, unique = truncated_svd(flat, rank)
    atol = 1e-3 if dtype == torch.float32 else 1e-9
    with torch.no_grad():
        got = result(x).double()
        if unique:
            expected = nn.functional.conv2d(
                x.double(), reference.reshape(conv.weight.shape),
                None if conv.bias is None else conv.bias.double(), conv.stride, conv.padding,
                conv.dilation)
            assert got.shape == expected.shape and torch.allclose(got, expected, atol=atol), (
                _("{what}: on input {x_shape} the output differs from the conv with the "
                  "truncated-SVD weight (shape {got_shape} vs {expected_shape}); check "
                  "how B is reshaped to [rank, C_in, kh, kw] (the order of "
                  "weight.reshape(C_out, -1)).").format(
                  what=what, x_shape=tuple(x.shape), got_shape=tuple(got.shape),
                  expected_shape=tuple(expected.shape)))
        if rank == max_rank:
            original = conv(x).double()
            assert got.shape == original.shape and torch.allclose(got, original, atol=atol), (
                _("{what} is full rank; on input {x_shape} it must compute what the "
                  "conv computes.").format(what=what, x_shape=tuple(x.shape)))


@pytest.mark.exercise("factorize_conv", points=3, check="errors", weight=1)
def test_factorize_conv_rejects_bad_arguments(nb):
    cases = [(nn.Conv2d(2, 4, 3), 0), (nn.Conv2d(2, 4, 3), 5), (nn.Conv2d(2, 30, 3), 19),
             (nn.Conv2d(3, 8, (1, 2)), 7), (nn.Conv2d(3, 8, 1), -1)]
    for conv, rank in cases:
        expect_value_error(nb.factorize_conv, conv, rank, argument="rank")
    for groups in (2, 4):
        expect_value_error(nb.factorize_conv, nn.Conv2d(4, 8, 3, groups=groups), 2,
                           argument="conv")
