"""Hidden checks of lesson 05: fuse_conv_bn, ring_allreduce, average_gradients, amp_train_step,
top_operators.

``average_gradients`` runs for real: inside 2- and 3-process gloo groups launched by
``compress_course.parallel``, started from where the submission's code runs (the grader's
sandbox): the launched processes re-load the exercise cells from the notebook file. The
results are compared with the mean gradient computed here, in the grading process.
``ring_allreduce`` is graded on the message log it records (``log=[]``), so the checks see
the simulation, not only its result. Each test names the part of its exercise it grades
(``check=``), with the same names as the visible checks.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from compress_course.checks import expect_value_error
from compress_course.checks.acceleration import (
    TOP_OPERATOR_CASES,
    TOP_OPERATOR_EDGE_CASES,
    amp_case,
    amp_clip_error,
    amp_inf_skip_error,
    amp_step_problems,
    average_gradients_problems,
    fusion_edge_error,
    fusion_error,
    random_conv_bn,
    ring_allreduce_error,
    ring_inputs,
    run_average_gradients,
    top_operators_error,
)
from compress_course.i18n import _

NOTEBOOK = "05_acceleration"


@pytest.fixture(scope="module")
def nb(submission):
    return submission.load(NOTEBOOK)


# ------------------------------------------------------------------------- fuse_conv_bn


@pytest.mark.exercise("fuse_conv_bn", points=3, check="main property", weight=2)
@settings(max_examples=40)
@given(c_in=st.integers(1, 6), c_out=st.integers(1, 8), kernel=st.sampled_from([1, 2, 3, 5]),
       stride=st.integers(1, 3), padding=st.integers(0, 2), bias=st.booleans(),
       eps=st.sampled_from([1e-5, 1e-3, 0.1, 1.0]), size=st.integers(5, 10),
       seed=st.integers(0, 10_000))
def test_fuse_conv_bn_matches_eval_conv_bn(nb, c_in, c_out, kernel, stride, padding, bias, eps,
                                           size, seed):
    conv, bn = random_conv_bn(c_in, c_out, kernel, stride, padding, bias, eps, seed=seed)
    x = torch.randn(3, c_in, size, size, generator=torch.Generator().manual_seed(seed + 1))
    problem = fusion_error(nb.fuse_conv_bn, conv, bn, x)
    assert problem is None, problem


@pytest.mark.exercise("fuse_conv_bn", points=3, check="edge cases", weight=1)
def test_fuse_conv_bn_new_layer_training_mode_bn_and_float64(nb):
    problem = fusion_edge_error(nb.fuse_conv_bn)
    assert problem is None, problem


# ----------------------------------------------------------------------- ring_allreduce


@pytest.mark.exercise("ring_allreduce", points=3, check="main property", weight=1)
@settings(max_examples=60)
@given(workers=st.integers(1, 8), shape=st.lists(st.integers(1, 7), min_size=1, max_size=3),
       integer=st.booleans(), seed=st.integers(0, 10_000))
def test_ring_allreduce_sums_everywhere(nb, workers, shape, integer, seed):
    tensors = ring_inputs(workers, tuple(shape), integer, seed)
    problem = ring_allreduce_error(nb.ring_allreduce, tensors)
    assert problem is None, problem


@pytest.mark.exercise("ring_allreduce", points=3, check="main property", weight=1)
def test_ring_allreduce_leaves_inputs_and_float32(nb):
    tensors = [torch.randn(4, 5) for _ in range(6)]
    copies = [t.clone() for t in tensors]
    problem = ring_allreduce_error(nb.ring_allreduce, tensors)
    assert problem is None, problem
    for k, (before, after) in enumerate(zip(copies, tensors, strict=True)):
        assert torch.equal(before, after), _("ring_allreduce modified worker {k}'s "
                                             "input tensor.").format(k=k)


@pytest.mark.exercise("ring_allreduce", points=3, check="ring schedule", weight=2)
@settings(max_examples=40)
@given(workers=st.integers(2, 8), numel=st.integers(8, 40), integer=st.booleans(),
       seed=st.integers(0, 10_000))
def test_ring_allreduce_logs_the_ring_schedule(nb, workers, numel, integer, seed):
    # The log shows the simulation itself: who sent which chunk to whom at each step, and
    # the partial sums the reduce-scatter builds. Summing directly cannot produce it.
    tensors = ring_inputs(workers, (numel,), integer, seed)
    problem = ring_allreduce_error(nb.ring_allreduce, tensors, with_log=True)
    assert problem is None, problem


@pytest.mark.exercise("ring_allreduce", points=3, check="edge cases", weight=1)
@pytest.mark.parametrize("workers,numel", [(1, 1), (1, 6), (2, 1), (3, 2), (8, 3), (8, 8),
                                           (7, 100), (4, 1001), (5, 64)])
def test_ring_allreduce_edge_sizes(nb, workers, numel):
    tensors = [torch.arange(numel, dtype=torch.int64) * (k + 1) for k in range(workers)]
    problem = ring_allreduce_error(nb.ring_allreduce, tensors, with_log=True)
    assert problem is None, problem


# -------------------------------------------------------------------- average_gradients


@pytest.fixture(scope="module")
def gradient_problems(nb):
    """world_size -> the problems of each part, from ONE launch per world size (launching a
    process group is the slow part); a launch that failed fails every part with its reason."""
    outcomes = {}

    def problems(world_size):
        if world_size not in outcomes:
            try:
                results = run_average_gradients(nb.average_gradients, world_size,
                                                seed=world_size)
                outcomes[world_size] = average_gradients_problems(results, world_size,
                                                                  seed=world_size)
            except Exception as error:  # noqa: BLE001 - reported by every part
                outcomes[world_size] = error
        outcome = outcomes[world_size]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return problems


@pytest.mark.exercise("average_gradients", points=3, timeout=240, check="main property",
                      weight=1)
@pytest.mark.parametrize("world_size", [2, 3])
def test_average_gradients_in_a_real_gloo_group(gradient_problems, world_size):
    problem = gradient_problems(world_size)["main property"]
    assert problem is None, problem


@pytest.mark.exercise("average_gradients", points=3, timeout=240, check="one collective",
                      weight=1)
@pytest.mark.parametrize("world_size", [2, 3])
def test_average_gradients_makes_one_all_reduce(gradient_problems, world_size):
    problem = gradient_problems(world_size)["one collective"]
    assert problem is None, problem


@pytest.mark.exercise("average_gradients", points=3, timeout=240, check="unused parameters",
                      weight=1)
@pytest.mark.parametrize("world_size", [2, 3])
def test_average_gradients_leaves_missing_gradients_none(gradient_problems, world_size):
    problem = gradient_problems(world_size)["unused parameters"]
    assert problem is None, problem


# ----------------------------------------------------------------------- amp_train_step


@pytest.mark.exercise("amp_train_step", points=3, check="main property", weight=2)
@settings(max_examples=8)
@given(seed=st.integers(0, 1000), batch=st.integers(2, 20), features=st.integers(2, 12),
       classes=st.integers(2, 6), scaler_enabled=st.booleans())
def test_amp_train_step_bf16_on_cpu(nb, seed, batch, features, classes, scaler_enabled):
    problems = amp_step_problems(nb.amp_train_step, seed, batch, features, classes,
                                 scaler_enabled)
    assert problems["main property"] is None, problems["main property"]


@pytest.mark.exercise("amp_train_step", points=3, check="loss scaling", weight=1)
@pytest.mark.parametrize("scaler_enabled", [False, True])
def test_amp_train_step_calls_the_scaler(nb, scaler_enabled):
    problems = amp_step_problems(nb.amp_train_step, 3, 8, 6, 4, scaler_enabled)
    assert problems["loss scaling"] is None, problems["loss scaling"]


@pytest.mark.exercise("amp_train_step", points=3, check="loss scaling", weight=1)
def test_amp_train_step_skips_a_step_with_inf_gradients(nb):
    # An enabled scaler must see the gradients: with an inf in the loss's gradient it skips
    # the optimizer step and lowers its scale. A step that bypasses scaler.step() updates.
    problem = amp_inf_skip_error(nb.amp_train_step)
    assert problem is None, problem


# ------------------------------------------------------------------------ top_operators

OPERATOR_NAMES = ["aten::addmm", "aten::mm", "aten::mkldnn_convolution", "aten::relu",
                  "aten::add", "aten::copy_", "aten::t", "aten::empty"]


@pytest.mark.exercise("top_operators", points=3, check="main property", weight=2)
@settings(max_examples=40)
@given(events=st.lists(st.tuples(st.sampled_from(OPERATOR_NAMES), st.integers(0, 20)),
                       min_size=1, max_size=25),
       k=st.integers(1, 10))
def test_top_operators_matches_a_profile_with_known_timings(nb, events, k):
    # Integer microseconds from a small set of names: repeated names, exact ties and
    # zero self times are common, and sums are exact whatever order they are added in.
    events = [(name, float(us)) for name, us in events]
    if sum(us for _, us in events) == 0:
        events.append(("aten::addmm", 5.0))
    problem = top_operators_error(nb.top_operators, events, k)
    assert problem is None, problem


@pytest.mark.exercise("top_operators", points=3, check="main property", weight=2)
@pytest.mark.parametrize("case", range(len(TOP_OPERATOR_CASES)))
def test_top_operators_visible_cases(nb, case):
    events, k = TOP_OPERATOR_CASES[case]
    problem = top_operators_error(nb.top_operators, events, k)
    assert problem is None, problem


@pytest.mark.exercise("top_operators", points=3, check="edge cases", weight=1)
@pytest.mark.parametrize("events,k", [
    *TOP_OPERATOR_EDGE_CASES,
    ([("z", 1.0), ("y", 1.0), ("x", 1.0), ("w", 1.0)], 3),  # four-way tie, input in reverse
    ([("aten::mm", 2.5)], 1),  # one operator: share 1
    ([("aten::mm", 2.5), ("aten::mm", 0.5)], 4),  # one name, k larger
    ([("c", 0.0), ("b", 0.0), ("a", 6.0)], 3),  # zero-time names are kept and ordered
])
def test_top_operators_ties_and_small_profiles(nb, events, k):
    problem = top_operators_error(nb.top_operators, events, k)
    assert problem is None, problem


@pytest.mark.exercise("top_operators", points=3, check="errors", weight=1)
def test_top_operators_rejects_bad_k(nb):
    for bad_k in (0, -1):
        expect_value_error(nb.top_operators, [("aten::mm", 1.0)], bad_k, argument="k")


@pytest.mark.exercise("top_operators", points=3, check="errors", weight=1)
def test_top_operators_rejects_bad_events(nb):
    for bad_events in ([], [("aten::add", 2.0), ("aten::mm", -1.0)],
                       [("aten::mm", 0.0), ("aten::add", 0.0)], [("aten::t", 0.0)]):
        expect_value_error(nb.top_operators, bad_events, 3, argument="events")


@pytest.mark.exercise("amp_train_step", points=3, check="gradient clipping", weight=1)
@pytest.mark.parametrize("seed,fraction,scaler_enabled", [
    (0, 0.3, True), (1, 0.3, False), (2, 3.0, True), (3, 0.05, True), (4, 0.5, False),
    (5, 1.5, False)])
def test_amp_train_step_clips_the_unscaled_gradients(nb, seed, fraction, scaler_enabled):
    # max_norm = fraction x the gradient's norm: fraction < 1 clips, > 1 changes nothing.
    # Clipping before unscaling clips the scale-times-larger gradient and fails with a scaler.
    problem = amp_clip_error(nb.amp_train_step, seed, fraction, scaler_enabled)
    assert problem is None, problem


@pytest.mark.exercise("amp_train_step", points=3, check="errors", weight=1)
def test_amp_train_step_rejects_a_non_positive_max_norm(nb):
    model, x, y, lr = amp_case(0, 4, 3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for bad in (0.0, -0.5):
        expect_value_error(nb.amp_train_step, model, x, y, optimizer,
                           torch.amp.GradScaler("cpu", enabled=False), "cpu", torch.bfloat16,
                           max_norm=bad, argument="max_norm")
