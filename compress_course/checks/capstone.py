"""Visible checks of the capstone (lesson 06): ``huffman_code_lengths``,
``deep_compression_bits``, and a gate that the reused lesson-01/02 functions work.

``relative_index_example`` is the worked example of the lesson (section 2); the hidden
checks reuse it.
"""

from __future__ import annotations

from fractions import Fraction

import torch
from torch import nn

from ..i18n import _
from . import PASS, CheckFailure, call, expect, expect_value_error, part, visible_check

__all__ = ["check_huffman_code_lengths", "check_deep_compression_bits",
           "check_previous_lessons", "relative_index_example"]

PARTS = ("values", "positions", "codebooks", "huffman_tables", "headers", "biases")


def relative_index_example() -> nn.Module:
    """``Linear(12, 1, bias=False)`` with the row ``[0, .5, 0, 0, 0, 0, 0, 0, 0, -.5, .5, 0]``.

    With ``index_bits=2`` (runs 0..3): nonzeros at 1, 9, 10 with runs 1, 7, 0; run 7 needs
    one padding entry, so the entries are (1, .5), (3, 0), (3, -.5), (0, .5): E = 4, K = 3.
    """
    layer = nn.Linear(12, 1, bias=False)
    with torch.no_grad():
        layer.weight.zero_()
        layer.weight[0, 1] = 0.5
        layer.weight[0, 9] = -0.5
        layer.weight[0, 10] = 0.5
    return layer


def _cost(counts: dict, lengths: dict) -> int:
    return sum(counts[s] * lengths[s] for s in counts if counts[s] > 0)


@visible_check
def check_huffman_code_lengths(huffman_code_lengths) -> int:
    # The parts carry the names the hidden checks give their points to.
    def expect_lengths(counts, expected, why):
        got = call(huffman_code_lengths, counts)
        expect(isinstance(got, dict),
               _("huffman_code_lengths({counts}) returned a {got_type}; expected a dict symbol "
                 "-> code length.").format(counts=counts, got_type=type(got).__name__))
        expect(got == expected,
               _("huffman_code_lengths({counts}) returned {got}; expected {expected} ({why}).").format(
                 counts=counts, got=got, expected=expected, why=why))

    main = [
        ({"a": 1, "b": 1}, {"a": 1, "b": 1}, _("two symbols: one bit each")),
        ({"a": 4, "b": 2, "c": 1, "d": 1}, {"a": 1, "b": 2, "c": 3, "d": 3},
         _("counts 4, 2, 1, 1 give the code 0, 10, 110, 111")),
    ]
    edge = [
        ({"a": 5}, {"a": 1}, _("a lone symbol gets length 1")),
        ({0: 3, 1: 0, 2: 3}, {0: 1, 2: 1}, _("a symbol with count 0 is left out")),
        ({}, {}, _("no symbols, no code")),
        ({"x": 0, "y": 0}, {}, _("all counts zero: no code")),
        ({1: 1, "one": 1}, {1: 1, "one": 1},
         _("symbols of different types: never compare two symbols (use a tie-breaking integer)")),
        ({0.5: 3, -0.5: 1, 0.0: 1}, {0.5: 1, -0.5: 2, 0.0: 2}, _("float symbols")),
    ]
    with part("main property"):
        for counts, expected, why in main:
            expect_lengths(counts, expected, why)
        counts = {s: c for s, c in zip("abcdefg", [10, 10, 9, 7, 3, 2, 1], strict=True)}
        got = call(huffman_code_lengths, counts)
        expect(isinstance(got, dict) and set(got) == set(counts),
               _("huffman_code_lengths({counts}) returned {got}; expected a length for each "
                 "symbol.").format(counts=counts, got=got))
        kraft = sum(Fraction(1, 2 ** got[s]) for s in got)
        expect(kraft == 1,
               _("huffman_code_lengths({counts}) returned {got}: the sum of 2**-length is "
                 "{kraft}, but a Huffman code is complete (the sum must be exactly 1).").format(
                 counts=counts, got=got, kraft=kraft))
        expect(_cost(counts, got) == 106,
               _("huffman_code_lengths({counts}) returned {got}, which costs {cost} bits; the "
                 "optimal prefix code costs 106 bits.").format(
                 counts=counts, got=got, cost=_cost(counts, got)))
    with part("edge cases"):
        for counts, expected, why in edge:
            expect_lengths(counts, expected, why)
    with part("errors"):
        expect_value_error(huffman_code_lengths, {"a": 2, "b": -1}, argument="counts")
    return len(main) + len(edge) + 2


def _expect_ledger(deep_compression_bits, model, text, expected, why, **kwargs) -> None:
    got = call(deep_compression_bits, model, **kwargs)
    expect(isinstance(got, dict) and all(k in got for k in (*PARTS, "total")),
           _("deep_compression_bits returned {got!r}; expected a dict with the keys {keys} and "
             "total.").format(got=got, keys=', '.join(PARTS)))
    options = ", ".join(f"{k}={v}" for k, v in kwargs.items())
    call_text = f"deep_compression_bits({text}" + (f", {options})" if options else ")")
    for name in (*PARTS, "total"):
        expect(isinstance(got[name], int) and not isinstance(got[name], bool),
               _("{call_text} returned {name}={got!r} of type {got_type}; expected a Python "
                 "int (use int(...)).").format(
                 call_text=call_text, name=name, got=got[name], got_type=type(got[name]).__name__))
    for name in PARTS:
        expect(got[name] == expected[name],
               _("{call_text} counted {name}={got!r}; expected {expected} ({why}).").format(
                 call_text=call_text, name=name, got=got[name], expected=expected[name], why=why))
    expect(got["total"] == sum(expected.values()),
           _("{call_text} returned total={got_total!r}; expected the sum of the parts, {total}.").format(
             call_text=call_text, got_total=got['total'], total=sum(expected.values())))


def _ledger(values=0, positions=0, codebooks=0, huffman_tables=0, headers=0, biases=0) -> dict:
    return {"values": values, "positions": positions, "codebooks": codebooks,
            "huffman_tables": huffman_tables, "headers": headers, "biases": biases}


@visible_check
def check_deep_compression_bits(deep_compression_bits) -> int:
    example, text = relative_index_example(), _("the lesson's Linear(12, 1) example")
    main = [
        ({"shared": False, "huffman": False}, _ledger(128, 8, 0, 0, 64),
         _("4 entries (one of them padding) x 32-bit values, x 2-bit runs")),
        ({"shared": False, "huffman": True}, _ledger(128, 6, 0, 32, 64),
         _("32-bit values; Huffman bits of the runs [1, 3, 3, 0]; run table 8 x 2**2")),
        ({"huffman": False}, _ledger(8, 8, 96, 0, 64),
         _("K = 3 distinct values {-0.5, 0, 0.5}: 2-bit indices, 3 x 32-bit codebook")),
        ({}, _ledger(6, 6, 96, 56, 64),
         _("Huffman bits of runs [1, 3, 3, 0] and values [.5, 0, -.5, .5]; tables 8 x 2**2 + 8 "
           "x 3")),
    ]
    with part("main property"):
        for kwargs, expected, why in main:
            _expect_ledger(deep_compression_bits, example, text, expected, why, index_bits=2,
                           **kwargs)
    with part("edge cases"):
        dense = nn.Linear(3, 2)
        with torch.no_grad():
            dense.weight.copy_(torch.tensor([[1.0, 2.0, 1.0], [2.0, 1.0, 2.0]]))
        _expect_ledger(deep_compression_bits, dense,
                       _("Linear(3, 2) with no zeros and the two values 1 and 2"),
                       _ledger(6, 18, 64, 0, 64, 64),
                       _("6 entries, 1-bit indices, 3-bit runs, 2 biases at 32 bits"),
                       index_bits=3, huffman=False)
        gaps = nn.Linear(4, 1)
        with torch.no_grad():
            gaps.weight.copy_(torch.tensor([[0.0, 1.0, 0.0, 2.0]]))
        _expect_ledger(deep_compression_bits, gaps,
                       _("Linear(4, 1) with the row [0, 1, 0, 2]"), _ledger(2, 4, 64, 0, 64, 32),
                       _("2 entries with runs 1 and 1, no padding, so K = 2 ({1, 2}; 0 is not "
                         "a stored value): 1-bit indices, 2 x 32-bit codebook"), index_bits=2,
                       huffman=False)
        empty = nn.Linear(40, 3)
        with torch.no_grad():
            empty.weight.zero_()
        _expect_ledger(deep_compression_bits, empty, _("Linear(40, 3) whose weight is all zero"),
                       _ledger(headers=64, biases=96),
                       _("E = 0: only the 64-bit header, plus 3 biases; defaults index_bits=5, "
                         "shared=True, huffman=True"))
        conv = nn.Sequential(nn.Conv2d(1, 2, 2, bias=False), nn.BatchNorm2d(2))
        with torch.no_grad():
            conv[0].weight.copy_(torch.tensor([0.0, 1, 0, 0, 0, 0, 0, 1]).view(2, 1, 2, 2))
        _expect_ledger(deep_compression_bits, conv,
                       _("Conv2d(1, 2, 2, bias=False) with 1s at flat positions 1 and 7, then "
                         "BatchNorm2d(2)"), _ledger(3, 3, 64, 48, 64, 128),
                       _("runs 1, then 5 = one padding entry (run 3, value 0) + run 1: E = 3, "
                         "K = 2; the BatchNorm's weight and bias are 4 other parameters at 32 "
                         "bits"),
                       index_bits=2)
    with part("errors"):
        expect_value_error(deep_compression_bits, relative_index_example(), index_bits=0,
                           argument="index_bits")
    return len(main) + 5


def check_previous_lessons(pruning, quantization) -> None:
    """Make sure the lesson-01 and lesson-02 functions the capstone reuses work.

    Raises ``CheckFailure`` (always, strict or not: nothing after it can run without them)
    with a sentence that says which lesson to finish.
    """
    from ..grading import SubmissionError

    def fail(lesson: str, name: str, problem: str):
        raise CheckFailure(_("The capstone reuses your `{name}` from lesson {lesson}, and "
                             "{problem} Complete lesson {lesson} (its checks must pass), save "
                             "it, and run this notebook again from the top.").format(
                             name=name, lesson=lesson, problem=problem))

    def run(lesson, loaded, name, *args, **kwargs):
        try:
            fn = getattr(loaded, name)
        except SubmissionError as error:
            fail(lesson, name, _("it could not be loaded: {error}.").format(error=error))
        try:
            return call(fn, *args, **kwargs)
        except CheckFailure as failure:
            fail(lesson, name, _("it does not work yet: {failure}").format(failure=failure))

    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.arange(1, 13, dtype=torch.float32).view(3, 4))
        model[2].weight.copy_(-torch.arange(13, 19, dtype=torch.float32).view(2, 3))
    masks = run("01", pruning, "global_prune_masks", model, 0.5)
    if not isinstance(masks, dict) or set(masks) != {"0.weight", "2.weight"}:
        fail("01", "global_prune_masks", _("it returned {masks!r} for a model with weights "
                                           "0.weight and 2.weight; expected a dict with those "
                                           "two keys.").format(masks=masks))
    kept = sum(int(m.sum()) for m in masks.values())
    if kept != 9 or masks["2.weight"].sum() != 6:
        fail("01", "global_prune_masks", _("at sparsity 0.5 it did not keep exactly the 9 "
                                           "largest-magnitude weights of 18."))
    run("01", pruning, "apply_masks", model, masks, modifies=(0,))
    if int((model[0].weight == 0).sum()) != 9 or int((model[2].weight == 0).sum()) != 0:
        fail("01", "apply_masks", _("it did not zero exactly the weights whose mask is False."))
    if sorted(name for name, _ in model.named_parameters()) != ["0.bias", "0.weight", "2.bias",
                                                               "2.weight"]:
        raise CheckFailure(_("Your `apply_masks` from lesson 01 works, but it replaced the "
                             "layers' `weight` parameters (as torch.nn.utils.prune's "
                             "reparametrization does, with weight_orig and a mask). The "
                             "capstone reads and writes each weight as a parameter, so it "
                             "needs an apply_masks that zeroes them in place and keeps them "
                             "parameters (a hook, or re-applying the mask)."))
    values = torch.tensor([0.0, 0.1, 0.2, 5.0, 5.1, 5.2, 9.9, 10.0])
    result = run("02", quantization, "kmeans_quantize", values, 2, iters=5)
    try:
        codebook, labels = result
        error = (codebook[labels.long()] - values).abs().max().item()
    except Exception:
        fail("02", "kmeans_quantize", _("it returned {result!r}; expected (codebook, labels) "
                                        "with codebook[labels] reconstructing the input.").format(
                                        result=result))
    if codebook.numel() != 4 or labels.shape != values.shape or error > 0.2:
        fail("02", "kmeans_quantize", _("with bits=2 on three well-separated groups of values "
                                        "it did not return 4 centroids whose codebook[labels] "
                                        "is close to the input."))
    print(_("{PASS} global_prune_masks, apply_masks (lesson 01) and kmeans_quantize (lesson "
            "02) work: the pipeline can use them.").format(PASS=PASS))
