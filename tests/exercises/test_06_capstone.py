"""Hidden checks of lesson 06 (capstone): huffman_code_lengths and deep_compression_bits.

The references below are written independently of the lesson's solution: the optimal
Huffman cost comes from summing the merged weights (no code lengths involved), and the
ledger is counted by walking every position of every weight one at a time.
"""

import heapq
import math
from fractions import Fraction

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from compress_course.checks import call, expect_value_error, relative_index_example
from compress_course.i18n import _

NOTEBOOK = "06_capstone"
PARTS = ("values", "positions", "codebooks", "huffman_tables", "headers", "biases")


@pytest.fixture(scope="module")
def nb(submission):
    return submission.load(NOTEBOOK)


# ------------------------------------------------------------------------- references

def optimal_cost(counts) -> int:
    """Bits of an optimal prefix code: the sum of all merged weights (1 bit each if alone)."""
    weights = [c for c in counts if c > 0]
    if len(weights) == 1:
        return weights[0]
    heapq.heapify(weights)
    cost = 0
    while len(weights) > 1:
        merged = heapq.heappop(weights) + heapq.heappop(weights)
        cost += merged
        heapq.heappush(weights, merged)
    return cost


def reference_bits(model, index_bits=5, shared=True, huffman=True) -> dict:
    span = 2**index_bits
    parts = dict.fromkeys(PARTS, 0)
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    for weight in weights:
        flat = weight.detach().reshape(-1).tolist()
        last = max((i for i, v in enumerate(flat) if v != 0), default=-1)
        runs, values, zeros = [], [], 0
        for value in flat[:last + 1]:  # zeros after the last nonzero are never stored
            if value != 0:
                runs.append(zeros)
                values.append(value)
                zeros = 0
                continue
            zeros += 1
            if zeros == span:  # the run field is full: store a padding zero
                runs.append(span - 1)
                values.append(0.0)
                zeros = 0
        parts["headers"] += 64
        if not values:
            continue
        codebook = sorted(set(values))
        if huffman:
            parts["positions"] += optimal_cost([runs.count(s) for s in set(runs)])
            parts["huffman_tables"] += 8 * span
        else:
            parts["positions"] += index_bits * len(runs)
        if not shared:
            parts["values"] += 32 * len(values)
            continue
        parts["codebooks"] += 32 * len(codebook)
        if huffman:
            parts["values"] += optimal_cost([values.count(v) for v in codebook])
            parts["huffman_tables"] += 8 * len(codebook)
        else:
            parts["values"] += len(values) * max(1, (len(codebook) - 1).bit_length())
    weight_ids = {id(w) for w in weights}
    parts["biases"] = 32 * sum(p.numel() for p in model.parameters() if id(p) not in weight_ids)
    parts["total"] = sum(parts.values())
    return parts


def describe_call(model_text, index_bits, shared, huffman):
    return (f"deep_compression_bits({model_text}, index_bits={index_bits}, shared={shared}, "
            f"huffman={huffman})")


def assert_ledger(nb, model, model_text, index_bits, shared, huffman):
    got = call(nb.deep_compression_bits, model, index_bits=index_bits, shared=shared,
               huffman=huffman)
    expected = reference_bits(model, index_bits, shared, huffman)
    text = describe_call(model_text, index_bits, shared, huffman)
    assert isinstance(got, dict), _("{text} returned a {got_type}; expected a dict.").format(
                                    text=text, got_type=type(got).__name__)
    for part in (*PARTS, "total"):
        assert part in got, _("{text} returned no {part!r} entry; expected keys {parts} "
                              "and total.").format(text=text, part=part, parts=PARTS)
        assert got[part] == expected[part], (
            _("{text} counted {part}={got_part!r}; expected {expected_part} (the full "
              "expected ledger: {expected}).").format(
              text=text, part=part, got_part=got[part], expected_part=expected[part],
              expected=expected))
        assert isinstance(got[part], int) and not isinstance(got[part], bool), (
            _("{text} returned {part}={got_part!r} of type {got_part_type}; expected a "
              "Python int.").format(
              text=text, part=part, got_part=got[part], got_part_type=type(got[part]).__name__))


# ------------------------------------------------------------------- huffman_code_lengths

symbols = st.one_of(st.integers(-50, 50), st.text(max_size=3), st.tuples(st.integers(0, 3)))
count_maps = st.dictionaries(symbols, st.integers(0, 1000), max_size=40)


@pytest.mark.exercise("huffman_code_lengths", points=4, check="main property", weight=2)
@given(counts=count_maps)
def test_huffman_is_an_optimal_complete_prefix_code(nb, counts):
    got = call(nb.huffman_code_lengths, counts)
    positive = {s for s, c in counts.items() if c > 0}
    assert isinstance(got, dict) and set(got) == positive, (
        _("huffman_code_lengths({counts}) returned {got}; expected a dict with exactly "
          "the symbols whose count is positive: {sorted_map_repr_positive}.").format(
          counts=counts, got=got, sorted_map_repr_positive=sorted(map(repr, positive))))
    assert all(isinstance(n, int) and n >= 1 for n in got.values()), (
        _("huffman_code_lengths({counts}) returned {got}; every code length must be an "
          "int >= 1.").format(counts=counts, got=got))
    if len(positive) == 1:
        assert list(got.values()) == [1], (
            _("huffman_code_lengths({counts}) returned {got}; a lone symbol gets length "
              "1.").format(counts=counts, got=got))
        return
    if not positive:
        return
    kraft = sum(Fraction(1, 2**n) for n in got.values())
    assert kraft == 1, (_("huffman_code_lengths({counts}) returned {got}: the sum of "
                          "2**-length is {kraft}; a Huffman code is complete, the sum "
                          "must be exactly 1.").format(counts=counts, got=got, kraft=kraft))
    cost = sum(counts[s] * got[s] for s in got)
    best = optimal_cost(list(counts.values()))
    assert cost == best, (_("huffman_code_lengths({counts}) returned {got}, which costs "
                            "{cost} bits; the optimal prefix code costs {best} bits.").format(
                            counts=counts, got=got, cost=cost, best=best))


@pytest.mark.exercise("huffman_code_lengths", points=4, check="edge cases", weight=1)
def test_huffman_edge_cases(nb):
    cases = [
        ({"x": 7}, {"x": 1}, _("a lone symbol gets length 1")),
        ({"x": 7, "y": 0}, {"x": 1}, _("zero counts are left out; the one symbol left gets 1")),
        ({}, {}, _("no symbols")),
        ({"x": 0, "y": 0}, {}, _("all counts zero")),
        ({1: 1, "one": 1}, {1: 1, "one": 1},
         _("symbols of different types (never compare them)")),
        ({0.5: 3, -0.5: 1, 0.0: 1}, {0.5: 1, -0.5: 2, 0.0: 2}, _("float symbols")),
    ]
    for counts, expected, why in cases:
        got = call(nb.huffman_code_lengths, counts)
        assert got == expected, (_("huffman_code_lengths({counts}) returned {got}; "
                                   "expected {expected} ({why}).").format(
                                   counts=counts, got=got, expected=expected, why=why))
    fibonacci = [1, 1, 2, 3, 5, 8, 13, 21, 34, 55]
    counts = {f"s{i}": c for i, c in enumerate(fibonacci)}
    got = call(nb.huffman_code_lengths, counts)
    assert sorted(got.values()) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 9], (
        _("huffman_code_lengths(Fibonacci counts {fibonacci}) returned {got}; the "
          "optimal code is maximally deep here: lengths 9, 9, 8, 7, ..., 1.").format(
          fibonacci=fibonacci, got=got))
    uniform = {i: 5 for i in range(16)}
    got = call(nb.huffman_code_lengths, uniform)
    assert set(got.values()) == {4}, (
        _("huffman_code_lengths(16 symbols with equal counts) returned {got}; expected "
          "length 4 for every symbol.").format(got=got))


@pytest.mark.exercise("huffman_code_lengths", points=4, check="errors", weight=1)
def test_huffman_rejects_negative_counts(nb):
    for bad in ({"a": -1}, {"a": 3, "b": -2}):
        expect_value_error(nb.huffman_code_lengths, bad, argument="counts")


# ------------------------------------------------------------------ deep_compression_bits

@st.composite
def sparse_layers(draw):
    """A Linear or Conv2d whose weight has runs of zeros (some long) and few distinct values."""
    if draw(st.booleans()):
        layer = nn.Linear(draw(st.integers(1, 40)), draw(st.integers(1, 8)),
                          bias=draw(st.booleans()))
    else:
        layer = nn.Conv2d(draw(st.integers(1, 3)), draw(st.integers(1, 4)),
                          draw(st.integers(1, 3)), bias=draw(st.booleans()))
    numel = layer.weight.numel()
    palette = draw(st.lists(st.sampled_from([-1.5, -0.75, -0.25, 0.125, 0.5, 0.625, 2.0, 3.25]),
                            min_size=1, max_size=8, unique=True))
    flat = torch.zeros(numel)
    position = draw(st.integers(0, 2 * numel)) - numel  # may start with a long run
    while True:
        position += 1 + draw(st.one_of(st.integers(0, 3), st.integers(0, 70)))
        if position >= numel:
            break
        if position >= 0:
            flat[position] = draw(st.sampled_from(palette))
    with torch.no_grad():
        layer.weight.copy_(flat.view_as(layer.weight))
    return layer


index_bits_values = st.integers(1, 6)
flags = st.sampled_from([(False, False), (False, True), (True, False), (True, True)])


@pytest.mark.exercise("deep_compression_bits", points=6, check="main property", weight=3)
@given(layers=st.lists(sparse_layers(), min_size=1, max_size=3), index_bits=index_bits_values,
       flags=flags)
def test_deep_compression_bits_matches_independent_count(nb, layers, index_bits, flags):
    model = nn.Sequential(*layers)
    text = _("{model} with {nonzeros} nonzero weights").format(
        model="Sequential(" + ", ".join(repr(layer) for layer in layers) + ")",
        nonzeros=sum(int((m.weight != 0).sum()) for m in layers))
    assert_ledger(nb, model, text, index_bits, *flags)


@pytest.mark.exercise("deep_compression_bits", points=6, check="main property", weight=3)
def test_deep_compression_bits_worked_example(nb):
    example = relative_index_example()
    for shared, huffman in [(False, False), (False, True), (True, False), (True, True)]:
        assert_ledger(nb, example, _("the lesson's Linear(12, 1) example"), 2, shared, huffman)


@pytest.mark.exercise("deep_compression_bits", points=6, check="edge cases", weight=2)
def test_deep_compression_bits_padding_boundaries(nb):
    # With index_bits=b a run of 2**b - 1 zeros fits; 2**b zeros needs one padding entry,
    # 2**(b+1) zeros two: the padding entries also turn 0 into a codebook value.
    for b in (1, 2, 3, 4):
        span = 2**b
        for leading in (span - 1, span, 2 * span - 1, 2 * span, 3 * span + 1):
            layer = nn.Linear(leading + 3, 1, bias=False)
            with torch.no_grad():
                layer.weight.zero_()
                layer.weight[0, leading] = 1.0
                layer.weight[0, leading + 2] = -1.0
            text = _("Linear({leading_3}, 1) with nonzeros at positions {leading} and "
                     "{leading_2}").format(
                     leading_3=leading + 3, leading=leading, leading_2=leading + 2)
            for shared, huffman in [(True, False), (False, False), (True, True)]:
                assert_ledger(nb, layer, text, b, shared, huffman)


@pytest.mark.exercise("deep_compression_bits", points=6, check="edge cases", weight=2)
def test_deep_compression_bits_dense_empty_and_other_parameters(nb):
    dense = nn.Linear(5, 4)
    with torch.no_grad():
        dense.weight.copy_(torch.tensor([0.25, -0.5, 1.0, 2.0]).repeat(5, 1).T)
    for shared, huffman in [(False, False), (True, False), (True, True)]:
        assert_ledger(nb, dense, _("Linear(5, 4) with no zero weight and 4 distinct values"), 3,
                      shared, huffman)
    got = call(nb.deep_compression_bits, dense, index_bits=3, shared=False, huffman=False)
    assert got["values"] == 32 * 20 and got["positions"] == 3 * 20, (
        _("deep_compression_bits(Linear(5, 4) without zeros, index_bits=3, "
          "shared=False, huffman=False) returned {got}; expected values 640 (20 x 32) "
          "and positions 60 (20 x 3): a dense weight still stores one run (0) per entry.").format(
          got=got))
    empty = nn.Sequential(nn.Linear(30, 2), nn.ReLU(), nn.Linear(2, 3, bias=False))
    with torch.no_grad():
        empty[0].weight.zero_()
        empty[2].weight.fill_(0.5)
    assert_ledger(nb, empty,
                  _("a Linear(30, 2) with an all-zero weight, then Linear(2, 3) of 0.5s"),
                  4, True, True)
    with_bn = nn.Sequential(nn.Conv2d(1, 2, 2, bias=False), nn.BatchNorm2d(2))
    with torch.no_grad():
        with_bn[0].weight.copy_(torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]).view(2, 1, 2, 2))
    assert_ledger(nb, with_bn, _("Conv2d(1, 2, 2) then BatchNorm2d(2) (its weight and bias are "
                                 "stored dense; its buffers are not parameters)"), 2, True, True)
    assert math.isfinite(reference_bits(with_bn)["total"])


@pytest.mark.exercise("deep_compression_bits", points=6, check="edge cases", weight=2)
def test_deep_compression_bits_default_arguments(nb):
    layer = relative_index_example()
    got = call(nb.deep_compression_bits, layer)
    expected = reference_bits(layer)
    assert got == expected, (_("deep_compression_bits(the lesson's Linear(12, 1) "
                               "example) with its defaults (index_bits=5, shared=True, "
                               "huffman=True) returned {got}; expected {expected}.").format(
                               got=got, expected=expected))


@pytest.mark.exercise("deep_compression_bits", points=6, check="errors", weight=1)
def test_deep_compression_bits_rejects_index_bits_below_one(nb):
    layer = relative_index_example()
    for bad in (0, -3):
        expect_value_error(nb.deep_compression_bits, layer, index_bits=bad, argument="index_bits")
