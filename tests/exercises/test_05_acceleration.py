"""Hidden checks of lesson 05: fuse_conv_bn, ring_allreduce, average_gradients, amp_train_step.

``average_gradients`` runs for real: inside 2- and 3-process gloo groups launched by
``compress_course.parallel``, started from where the submission's code runs (the grader's
sandbox): the launched processes re-load the exercise cells from the notebook file. The
results are compared with the mean gradient computed here, in the grading process.
"""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from compress_course.checks import call
from compress_course.checks.acceleration import (
    amp_step_error,
    average_gradients_errors,
    fusion_error,
    random_conv_bn,
    reference_conv_bn,
    ring_allreduce_error,
    run_average_gradients,
)

NOTEBOOK = "05_acceleration"


@pytest.fixture(scope="module")
def nb(submission):
    return submission.load(NOTEBOOK)


# ------------------------------------------------------------------------- fuse_conv_bn


@pytest.mark.exercise("fuse_conv_bn", points=3)
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


@pytest.mark.exercise("fuse_conv_bn", points=3)
def test_fuse_conv_bn_new_layer_and_training_mode_bn(nb):
    conv, bn = random_conv_bn(3, 4, 3, padding=1, bias=True, seed=7)
    bn.train()  # fusion must use the running statistics even if bn is in training mode
    x = torch.randn(2, 3, 6, 6)
    expected = reference_conv_bn(conv, bn, x)
    fused = call(nb.fuse_conv_bn, conv, bn)
    assert isinstance(fused, nn.Conv2d), f"fuse_conv_bn returned {type(fused).__name__}; expected nn.Conv2d."
    assert fused.bias is not None, "the fused conv needs a bias (it carries beta - mean * scale)."
    assert fused.stride == conv.stride and fused.padding == conv.padding, (
        f"the fused conv has stride {fused.stride} and padding {fused.padding}; expected "
        f"{conv.stride} and {conv.padding} like the original conv.")
    with torch.no_grad():
        got = fused(x)
    error = ((got - expected).abs().max() / expected.abs().max()).item()
    assert error <= 1e-5, (
        f"fuse_conv_bn(conv, bn with bn.training=True) differs from bn(conv(x)) in eval mode by "
        f"{error:.2e}; use bn.running_mean and bn.running_var, not batch statistics.")
    assert fused.weight.data_ptr() != conv.weight.data_ptr(), (
        "fuse_conv_bn returned a conv that shares its weight with the input conv; return a new layer.")
    conv64, bn64 = random_conv_bn(2, 3, 3, bias=False, seed=3, dtype=torch.float64)
    x64 = torch.randn(2, 2, 7, 7, dtype=torch.float64)
    problem = fusion_error(nb.fuse_conv_bn, conv64, bn64, x64)
    assert problem is None, problem


# ----------------------------------------------------------------------- ring_allreduce


@pytest.mark.exercise("ring_allreduce", points=3)
@settings(max_examples=60)
@given(workers=st.integers(1, 8), shape=st.lists(st.integers(1, 7), min_size=1, max_size=3),
       integer=st.booleans(), seed=st.integers(0, 10_000))
def test_ring_allreduce_sums_everywhere(nb, workers, shape, integer, seed):
    generator = torch.Generator().manual_seed(seed)
    if integer:
        tensors = [torch.randint(-50, 50, shape, generator=generator) for _ in range(workers)]
    else:
        tensors = [torch.randn(shape, generator=generator, dtype=torch.float64)
                   for _ in range(workers)]
    problem = ring_allreduce_error(nb.ring_allreduce, tensors)
    assert problem is None, problem


@pytest.mark.exercise("ring_allreduce", points=3)
@pytest.mark.parametrize("workers,numel", [(1, 1), (2, 1), (3, 2), (8, 3), (8, 8), (7, 100),
                                           (4, 1001), (5, 64)])
def test_ring_allreduce_edge_sizes(nb, workers, numel):
    tensors = [torch.arange(numel, dtype=torch.int64) * (k + 1) for k in range(workers)]
    problem = ring_allreduce_error(nb.ring_allreduce, tensors)
    assert problem is None, problem


@pytest.mark.exercise("ring_allreduce", points=3)
def test_ring_allreduce_leaves_inputs_and_float32(nb):
    tensors = [torch.randn(4, 5, requires_grad=False) for _ in range(6)]
    copies = [t.clone() for t in tensors]
    problem = ring_allreduce_error(nb.ring_allreduce, tensors)
    assert problem is None, problem
    for k, (before, after) in enumerate(zip(copies, tensors, strict=True)):
        assert torch.equal(before, after), f"ring_allreduce modified worker {k}'s input tensor."


# -------------------------------------------------------------------- average_gradients


@pytest.mark.exercise("average_gradients", points=3, timeout=240)
@pytest.mark.parametrize("world_size", [2, 3])
def test_average_gradients_in_a_real_gloo_group(nb, world_size):
    results = run_average_gradients(nb.average_gradients, world_size, seed=world_size)
    problem = average_gradients_errors(results, world_size, seed=world_size)
    assert problem is None, problem


# ----------------------------------------------------------------------- amp_train_step


@pytest.mark.exercise("amp_train_step", points=3)
@settings(max_examples=8)
@given(seed=st.integers(0, 1000), batch=st.integers(2, 20), features=st.integers(2, 12),
       classes=st.integers(2, 6), scaler_enabled=st.booleans())
def test_amp_train_step_bf16_on_cpu(nb, seed, batch, features, classes, scaler_enabled):
    problem = amp_step_error(nb.amp_train_step, seed, batch, features, classes, scaler_enabled)
    assert problem is None, problem


@pytest.mark.exercise("amp_train_step", points=3)
def test_amp_train_step_skips_a_step_with_inf_gradients(nb):
    # An enabled scaler must see the gradients: with an inf in the loss's gradient it skips
    # the optimizer step and lowers its scale. A step that bypasses scaler.step() updates.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight[0, 0] = float("inf")
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    before = copy.deepcopy(model.state_dict())
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8)
    loss = call(nb.amp_train_step, model, x, y, optimizer, scaler, "cpu", torch.bfloat16,
                modifies=(0, 3, 4))
    assert isinstance(loss, float), f"amp_train_step returned {type(loss).__name__}; expected float."
    finite = [k for k in before if torch.isfinite(before[k]).all()]
    changed = [k for k in finite if not torch.equal(before[k], model.state_dict()[k])]
    assert not changed, (
        f"amp_train_step with non-finite gradients changed parameters {changed}; step through "
        "scaler.step(optimizer), which skips a step whose gradients hold inf or NaN.")
    assert scaler.get_scale() < 2.0 ** 8, (
        f"after a step with non-finite gradients the scaler's scale is {scaler.get_scale()}; "
        "expected it lowered from 256: call scaler.update() after scaler.step(optimizer).")
