"""Hidden checks of lesson 03: softmax_with_temperature, distillation_loss, distill_step,
feature_distillation_loss."""

import copy

import pytest
import torch
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from compress_course.checks import (
    call,
    expect_value_error,
    reference_distillation_loss,
    tiny_student,
    tiny_teacher,
)
from compress_course.i18n import _

NOTEBOOK = "03_distillation"
# Every call runs in a sandboxed child process: report the first failing example without
# shrinking it, so that a wrong answer fails in seconds rather than at the time limit.
NO_SHRINK = (Phase.explicit, Phase.generate)


@pytest.fixture(scope="module")
def nb(submission):
    return submission.load(NOTEBOOK)


shapes = st.lists(st.integers(1, 6), min_size=1, max_size=3).flatmap(
    lambda lead: st.integers(2, 12).map(lambda classes: (*lead, classes)))
temperatures = st.floats(1e-3, 1e3).map(lambda t: float(f"{t:.4g}"))
dtypes = st.sampled_from([torch.float32, torch.float64])
scales = st.sampled_from([0.1, 1.0, 10.0, 100.0])


def random_logits(shape, dtype, scale, seed):
    generator = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=generator, dtype=torch.float64)).to(dtype)


def tolerance(dtype):
    return {"rtol": 1e-4, "atol": 1e-6} if dtype == torch.float32 else {"rtol": 1e-9, "atol": 1e-12}


# ----------------------------------------------------------------- softmax_with_temperature

@pytest.mark.exercise("softmax_with_temperature", points=2, check="main property", weight=2)
@settings(max_examples=60, phases=NO_SHRINK)
@given(shape=shapes, T=temperatures, dtype=dtypes, scale=scales, seed=st.integers(0, 10**6))
def test_softmax_with_temperature_matches_torch(nb, shape, T, dtype, scale, seed):
    logits = random_logits(shape, dtype, scale, seed)
    got = call(nb.softmax_with_temperature, logits, T)
    expected = torch.softmax(logits.double() / T, dim=-1).to(dtype)
    assert isinstance(got, torch.Tensor) and got.shape == logits.shape, (
        _("softmax_with_temperature(logits of shape {shape}, T={T}) returned "
          "{got_shape!r}; expected a tensor of shape {shape}.").format(
            shape=tuple(shape), T=T, got_shape=getattr(got, 'shape', got)))
    assert got.dtype == dtype, (_("softmax_with_temperature({dtype} logits, T={T}) returned "
                                  "{got_dtype}; expected the input's dtype {dtype}.").format(
                                    dtype=dtype, T=T, got_dtype=got.dtype))
    assert torch.isfinite(got).all(), (
        _("softmax_with_temperature(logits of scale {scale}, T={T}, {dtype}) returned inf or "
          "nan; subtract each row's maximum before exp (or use torch.softmax).").format(
            scale=scale, T=T, dtype=dtype))
    assert torch.allclose(got, expected, **tolerance(dtype)), (
        _("softmax_with_temperature(logits of shape {shape}, scale {scale}, T={T}, "
          "{dtype}) differs from torch.softmax(logits / T, dim=-1) by up to "
          "{max_diff:.3g}.").format(
            shape=tuple(shape), scale=scale, T=T, dtype=dtype,
            max_diff=(got - expected).abs().max().item()))


@pytest.mark.exercise("softmax_with_temperature", points=2, check="main property", weight=2)
@settings(max_examples=30, phases=NO_SHRINK)
@given(shape=shapes, T=temperatures, dtype=dtypes, scale=scales, seed=st.integers(0, 10**6),
       which=st.integers(0, 10**3))
def test_softmax_with_temperature_along_dim(nb, shape, T, dtype, scale, seed, which):
    logits = random_logits(shape, dtype, scale, seed)
    dim = which % (2 * len(shape)) - len(shape)  # every valid dim, negative and positive
    got = call(nb.softmax_with_temperature, logits, T, dim=dim)
    expected = torch.softmax(logits.double() / T, dim=dim).to(dtype)
    assert isinstance(got, torch.Tensor) and got.shape == logits.shape, (
        _("softmax_with_temperature(logits of shape {shape}, T={T}, dim={dim}) returned "
          "{got_shape!r}; expected a tensor of shape {shape}.").format(
            shape=tuple(shape), T=T, dim=dim, got_shape=getattr(got, 'shape', got)))
    assert got.dtype == dtype and torch.allclose(got, expected, **tolerance(dtype)), (
        _("softmax_with_temperature(logits of shape {shape}, scale {scale}, T={T}, "
          "dim={dim}, {dtype}) differs from torch.softmax(logits / T, dim={dim}); the maximum, "
          "the exponentials and their sum all go along dim.").format(
            shape=tuple(shape), scale=scale, T=T, dim=dim, dtype=dtype))


@pytest.mark.exercise("softmax_with_temperature", points=2, check="edge cases", weight=1)
def test_softmax_with_temperature_large_logits_and_limits(nb):
    for big in ([1000.0, 999.0, 0.0], [1e30, -1e30, 0.0], [-1000.0, -1001.0, -1002.0]):
        logits = torch.tensor([big])
        for T in (1.0, 0.01, 50.0):
            got = call(nb.softmax_with_temperature, logits, T)
            expected = torch.softmax(logits / T, dim=-1)
            assert torch.isfinite(got).all() and torch.allclose(got, expected, atol=1e-6), (
                _("softmax_with_temperature({big}, T={T}) returned {got_list}; expected "
                  "{expected_list} (numerically stable: subtract the row max before exp).").format(
                    big=big, T=T, got_list=got.tolist(), expected_list=expected.tolist()))
    huge = torch.tensor([[1e36, 0.0, -1e36], [-1e36, 2e36, 1e36]])
    for T in (1e-3, 1e-6):
        got = call(nb.softmax_with_temperature, huge, T)
        expected = torch.softmax((huge.double() - huge.double().amax(-1, keepdim=True)) / T, -1)
        assert torch.isfinite(got).all() and torch.allclose(got.double(), expected, atol=1e-6), (
            _("softmax_with_temperature([[1e36, 0, -1e36], [-1e36, 2e36, 1e36]], T={T}) returned "
              "{got_list}; expected {expected_list}: logits / T overflows to inf in "
              "float32, so subtract the maximum BEFORE dividing by T.").format(
                T=T, got_list=got.tolist(), expected_list=expected.tolist()))
    tied = call(nb.softmax_with_temperature, torch.tensor([[3.0, 3.0, 1.0], [-2.0, 5.0, 5.0]]), 1e-4)
    assert torch.allclose(tied, torch.tensor([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]), atol=1e-6), (
        _("softmax_with_temperature([[3, 3, 1], [-2, 5, 5]], T=1e-4) returned {tied_list}; "
          "expected [[0.5, 0.5, 0], [0, 0.5, 0.5]]: classes tied for the largest logit share it.").format(
            tied_list=tied.tolist()))
    logits = torch.tensor([[3.0, 1.0, 2.0, -1.0]])
    cold = call(nb.softmax_with_temperature, logits, 1e-4)
    assert torch.allclose(cold, torch.tensor([[1.0, 0.0, 0.0, 0.0]]), atol=1e-6), (
        _("softmax_with_temperature([3, 1, 2, -1], T=1e-4) returned {cold_list}; expected "
          "one-hot on the largest logit (T -> 0).").format(cold_list=cold.tolist()))
    hot = call(nb.softmax_with_temperature, logits, 1e6)
    assert torch.allclose(hot, torch.full((1, 4), 0.25), atol=1e-5), (
        _("softmax_with_temperature([3, 1, 2, -1], T=1e6) returned {hot_list}; expected "
          "nearly uniform (T -> infinity).").format(hot_list=hot.tolist()))
    one_dim = torch.tensor([0.0, 1.0, 2.0])
    got = call(nb.softmax_with_temperature, one_dim, 2.0)
    assert got.shape == (3,) and torch.allclose(got, torch.softmax(one_dim / 2, dim=0)), (
        _("softmax_with_temperature([0, 1, 2], T=2) (a 1-D tensor) returned {got!r}; expected "
          "{softmax_one}.").format(
            got=got, softmax_one=torch.softmax(one_dim / 2, dim=0).tolist()))
    square = torch.tensor([[0.0, 5.0], [1.0, 1.0]])
    got = call(nb.softmax_with_temperature, square, 1.0)
    assert torch.allclose(got, torch.softmax(square, dim=-1)), (
        _("softmax_with_temperature([[0, 5], [1, 1]], T=1) returned {got_list}; the softmax "
          "runs over the LAST dimension (classes), each row sums to 1.").format(
            got_list=got.tolist()))


@pytest.mark.exercise("softmax_with_temperature", points=2, check="errors", weight=1)
def test_softmax_with_temperature_rejects_bad_T(nb):
    for T in (0.0, -0.5, -3.0):
        expect_value_error(nb.softmax_with_temperature, torch.randn(2, 3), T, argument="T")
    for shape, dim in [((2, 3), 2), ((2, 3), -3), ((4,), 1), ((2, 3, 4), 5)]:
        expect_value_error(nb.softmax_with_temperature, torch.randn(shape), 1.0, dim=dim,
                           argument="dim")


# ----------------------------------------------------------------------- distillation_loss

batch_sizes = st.integers(1, 16)
class_counts = st.integers(2, 20)
loss_temperatures = st.sampled_from([0.5, 1.0, 2.0, 3.0, 4.0, 7.5, 10.0, 20.0])
alphas = st.sampled_from([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0])


def logits_pair(batch, classes, seed, teacher_scale=3.0):
    generator = torch.Generator().manual_seed(seed)
    student = torch.randn(batch, classes, generator=generator)
    teacher = teacher_scale * torch.randn(batch, classes, generator=generator)
    labels = torch.randint(0, classes, (batch,), generator=generator)
    return student, teacher, labels


@pytest.mark.exercise("distillation_loss", points=4, check="main property", weight=3)
@settings(max_examples=60, phases=NO_SHRINK)
@given(batch=batch_sizes, classes=class_counts, T=loss_temperatures, alpha=alphas,
       seed=st.integers(0, 10**6))
def test_distillation_loss_matches_reference(nb, batch, classes, T, alpha, seed):
    student, teacher, labels = logits_pair(batch, classes, seed)
    got = call(nb.distillation_loss, student, teacher, labels, T, alpha)
    expected = reference_distillation_loss(student, teacher, labels, T, alpha)
    assert isinstance(got, torch.Tensor) and got.dim() == 0, (
        _("distillation_loss(logits [{batch}, {classes}], T={T}, alpha={alpha}) returned "
          "{got!r}; expected a scalar (0-dimensional) tensor.").format(
            batch=batch, classes=classes, T=T, alpha=alpha, got=got))
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5), (
        _("distillation_loss(logits [{batch}, {classes}], T={T}, alpha={alpha}) returned "
          "{got:.6g}; expected {expected:.6g} = alpha * T**2 * "
          "F.kl_div(log_softmax(student / T), softmax(teacher / T), reduction='batchmean') + "
          "(1 - alpha) * F.cross_entropy(student, labels).").format(
            batch=batch, classes=classes, T=T, alpha=alpha, got=got.item(),
            expected=expected.item()))


@pytest.mark.exercise("distillation_loss", points=4, check="main property", weight=3)
@settings(max_examples=10, phases=NO_SHRINK)
@given(batch=batch_sizes, classes=class_counts, seed=st.integers(0, 10**6))
def test_distillation_loss_scales_as_T_squared(nb, batch, classes, seed):
    student, teacher, labels = logits_pair(batch, classes, seed)
    for T in (1.0, 2.0, 5.0, 10.0):
        kl = F.kl_div(F.log_softmax(student / T, dim=-1), F.softmax(teacher / T, dim=-1),
                      reduction="batchmean")
        if kl.item() < 1e-6:
            continue
        got = call(nb.distillation_loss, student, teacher, labels, T, 1.0)
        ratio = got.item() / kl.item()
        assert abs(ratio - T**2) <= 1e-3 * T**2, (
            _("distillation_loss(T={T}, alpha=1) is {ratio:.4g} times the batch-mean KL of the "
              "softened distributions; expected T**2 = {t_squared:g}.").format(
                T=T, ratio=ratio, t_squared=T ** 2))


@pytest.mark.exercise("distillation_loss", points=4, check="main property", weight=3)
@settings(max_examples=15, phases=NO_SHRINK)
@given(batch=batch_sizes, classes=class_counts, T=loss_temperatures, seed=st.integers(0, 10**6))
def test_distillation_loss_alpha_limits(nb, batch, classes, T, seed):
    student, teacher, labels = logits_pair(batch, classes, seed)
    hard = call(nb.distillation_loss, student, teacher, labels, T, 0.0)
    expected = F.cross_entropy(student, labels)
    assert torch.allclose(hard, expected, rtol=1e-5, atol=1e-6), (
        _("distillation_loss(alpha=0, T={T}) returned {hard:.6g}; expected "
          "cross_entropy(student_logits, labels) = {expected:.6g} (no T in the hard part).").format(
            T=T, hard=hard.item(), expected=expected.item()))
    other_teacher = teacher.flip(0) + 1.0
    hard_other = call(nb.distillation_loss, student, other_teacher, labels, T, 0.0)
    assert torch.allclose(hard, hard_other, rtol=1e-6, atol=1e-7), (
        _("distillation_loss(alpha=0) changed when only the teacher's logits changed; with "
          "alpha=0 only the labels count."))
    soft = call(nb.distillation_loss, student, teacher, labels, T, 1.0)
    other_labels = (labels + 1) % classes
    soft_other = call(nb.distillation_loss, student, teacher, other_labels, T, 1.0)
    assert torch.allclose(soft, soft_other, rtol=1e-6, atol=1e-7), (
        _("distillation_loss(alpha=1, T={T}) changed when only the labels changed "
          "({soft:.6g} vs {soft_other:.6g}); with alpha=1 only the teacher counts.").format(
            T=T, soft=soft.item(), soft_other=soft_other.item()))
    same = call(nb.distillation_loss, teacher, teacher, labels, T, 1.0)
    assert abs(same.item()) < 1e-4, (
        _("distillation_loss(student_logits equal to teacher_logits [{batch}, {classes}], T={T}, "
          "alpha=1) returned {same:.3g}; expected 0 (KL of a distribution from itself).").format(
            batch=batch, classes=classes, T=T, same=same.item()))
    shifted = call(nb.distillation_loss, teacher + 5.0, teacher, labels, T, 1.0)
    assert abs(shifted.item()) < 1e-4, (
        _("distillation_loss(student_logits = teacher_logits + 5, alpha=1, T={T}) returned "
          "{shifted:.3g}; expected 0: adding a constant to logits leaves softmax unchanged.").format(
            T=T, shifted=shifted.item()))


@pytest.mark.exercise("distillation_loss", points=4, check="gradients", weight=1)
@settings(max_examples=20, phases=NO_SHRINK)
@given(T=loss_temperatures, alpha=st.sampled_from([0.3, 0.5, 0.9, 1.0]), seed=st.integers(0, 10**6))
def test_distillation_loss_gradients(nb, T, alpha, seed):
    student, teacher, labels = logits_pair(6, 5, seed)
    got = in_child(nb.distillation_loss, loss_gradients, student, teacher, labels, T, alpha)
    assert got["in_graph"], (
        _("distillation_loss(T={T}, alpha={alpha}) returned a tensor without a gradient; the "
          "student's logits must stay in the graph (don't detach them).").format(T=T, alpha=alpha))
    assert got["teacher"] is None or not got["teacher"].abs().any(), (
        _("distillation_loss(T={T}, alpha={alpha}) let a gradient of norm "
          "{got_teacher_norm:.3g} reach teacher_logits; detach them.").format(
            T=T, alpha=alpha, got_teacher_norm=got['teacher'].norm().item()))
    reference_leaf = student.clone().requires_grad_(True)
    reference_distillation_loss(reference_leaf, teacher, labels, T, alpha).backward()
    assert got["student"] is not None and torch.allclose(
        got["student"], reference_leaf.grad, rtol=1e-4, atol=1e-6), (
        _("distillation_loss(T={T}, alpha={alpha}): the gradient w.r.t. student_logits differs "
          "from the reference's.").format(T=T, alpha=alpha))


@pytest.mark.exercise("distillation_loss", points=4, check="errors", weight=1)
def test_distillation_loss_rejects_bad_arguments(nb):
    student, teacher, labels = logits_pair(4, 3, 0)
    for T in (0.0, -1.0):
        expect_value_error(nb.distillation_loss, student, teacher, labels, T, 0.5, argument="T")
    for alpha in (-0.1, 1.1, 2.0):
        expect_value_error(nb.distillation_loss, student, teacher, labels, 2.0, alpha,
                           argument="alpha")


# ---------------------------------------------------------------------------- distill_step
#
# The learner's function runs in a sandboxed child: arguments are pickled there (gradients
# are not), their state comes back after the call. What must happen inside the child
# (stale gradients, several steps in a row) is set up by the module-level scenarios below.


class ModeRecordingStudent(nn.Module):
    """A 6-8-4 student counting its forward passes in train and eval mode (in buffers)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
        self.register_buffer("train_forwards", torch.zeros((), dtype=torch.int64))
        self.register_buffer("eval_forwards", torch.zeros((), dtype=torch.int64))

    def forward(self, x):
        with torch.no_grad():
            (self.train_forwards if self.training else self.eval_forwards).add_(1)
        return self.body(x)


def repeated_steps(distill_step, student, teacher, x, y, optimizer, T, alpha, steps, stale):
    """Scenario: optionally leave stale gradients on the student, then take ``steps`` steps."""
    if stale:
        for p in student.parameters():
            p.grad = torch.ones_like(p)
    return [distill_step(student, teacher, x, y, optimizer, T, alpha) for _ in range(steps)]


def loss_gradients(distillation_loss, student_logits, teacher_logits, labels, T, alpha):
    """Scenario: backpropagate the learner's loss from fresh leaves; return the gradients."""
    student_leaf = student_logits.clone().requires_grad_(True)
    teacher_leaf = teacher_logits.clone().requires_grad_(True)
    loss = distillation_loss(student_leaf, teacher_leaf, labels, T, alpha)
    if not (isinstance(loss, torch.Tensor) and loss.requires_grad):
        return {"student": None, "teacher": None, "in_graph": False}
    loss.backward()
    return {"student": student_leaf.grad, "teacher": teacher_leaf.grad, "in_graph": True}


def in_child(function, scenario, *args):
    """Run ``scenario(function, *args)`` where the learner's code runs; failures as sentences."""
    runner = getattr(function, "run_with", None)
    name = getattr(function, "__name__", "function")
    try:
        if runner is None:  # --in-process grading
            return scenario(function, *args)
        return runner(scenario, *args)
    except NotImplementedError:
        raise AssertionError(_("{name} is not implemented yet: replace `raise "
                               "NotImplementedError()` with your code.").format(name=name)) from None
    except Exception as error:
        raise AssertionError(_("{name} raised {error_type}: {error}").format(
                                 name=name, error_type=type(error).__name__, error=error)) from error


def reference_steps(student, teacher, x, y, lr, T, alpha, steps):
    """``steps`` SGD steps of a copy of ``student`` with the reference loss: (copy, losses)."""
    twin = copy.deepcopy(student).train()
    optimizer = torch.optim.SGD(twin.parameters(), lr=lr)
    with torch.no_grad():
        teacher_logits = teacher(x)
    losses = []
    for _step in range(steps):
        optimizer.zero_grad()
        loss = reference_distillation_loss(twin(x), teacher_logits, y, T, alpha)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return twin, losses


@pytest.mark.exercise("distill_step", points=3, check="main property", weight=2)
@settings(max_examples=20, phases=NO_SHRINK)
@given(batch=st.integers(1, 16), T=loss_temperatures, alpha=alphas, seed=st.integers(0, 10**6),
       steps=st.integers(1, 3), stale=st.booleans())
def test_distill_step_matches_reference_sgd_steps(nb, batch, T, alpha, seed, steps, stale):
    teacher, student = tiny_teacher(seed), tiny_student(seed + 1)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 6, generator=generator)
    y = torch.randint(0, 4, (batch,), generator=generator)
    x_before, y_before = x.clone(), y.clone()
    twin, expected = reference_steps(student, teacher, x, y, 0.05, T, alpha, steps)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.05)
    losses = in_child(nb.distill_step, repeated_steps, student, teacher, x, y, optimizer, T,
                      alpha, steps, stale)
    setting = _("distill_step(batch of {batch}, T={T}, alpha={alpha}) x {steps}{stale}").format(
        batch=batch, T=T, alpha=alpha, steps=steps,
        stale=_(" on a student with stale gradients") if stale else "")
    assert torch.equal(x, x_before) and torch.equal(y, y_before), (
        _("{setting} modified x or y; it must leave its inputs unchanged.").format(setting=setting))
    assert all(isinstance(v, float) for v in losses), (
        _("{setting} returned {losses!r}; expected a Python float each time (loss.item()).").format(
            setting=setting, losses=losses))
    for step, (got, want) in enumerate(zip(losses, expected, strict=True), start=1):
        assert abs(got - want) <= 1e-4 * max(1.0, abs(want)), (
            (_("{setting}: step {step} returned {got:.6g}; expected {want:.6g}, the "
               "distillation loss before that step, with the teacher's logits from the teacher "
               "in eval mode (and zero the gradients before backward: optimizer.zero_grad()).")
             if step > 1 or stale else
             _("{setting}: step {step} returned {got:.6g}; expected {want:.6g}, the "
               "distillation loss before that step, with the teacher's logits from the teacher "
               "in eval mode.")).format(setting=setting, step=step, got=got, want=want))
    for (name, p), q in zip(student.named_parameters(), twin.parameters(), strict=True):
        assert torch.allclose(p, q, rtol=1e-4, atol=1e-6), (
            _("after {setting} the student's {name} differs from {steps} SGD step(s) on the "
              "distillation loss (max difference {max_diff:.3g}); zero the "
              "gradients, backward, then optimizer.step() once per call.").format(
                setting=setting, name=name, steps=steps, max_diff=(p - q).abs().max().item()))


@pytest.mark.exercise("distill_step", points=3, check="teacher untouched", weight=1)
@settings(max_examples=10, phases=NO_SHRINK)
@given(seed=st.integers(0, 10**6))
def test_distill_step_leaves_teacher_untouched(nb, seed):
    torch.manual_seed(seed)
    teacher = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
                            nn.Linear(16, 4))
    with torch.no_grad():
        teacher[1].running_mean.normal_()
    teacher.eval()
    student = tiny_student(seed)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    x, y = torch.randn(10, 6), torch.randint(0, 4, (10,))
    with torch.no_grad():
        teacher_logits = teacher(x)
    expected = reference_distillation_loss(copy.deepcopy(student).train()(x), teacher_logits, y,
                                           3.0, 0.5).item()
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-2)
    loss = call(nb.distill_step, student, teacher, x, y, optimizer, 3.0, 0.5, modifies=(0, 1))
    assert not teacher.training and all(not m.training for m in teacher.modules()), (
        _("distill_step left the teacher (or one of its layers) in train mode; it must stay in "
          "eval mode (dropout and batch-norm would change its soft targets)."))
    changed = [k for k, v in teacher.state_dict().items() if not torch.equal(before[k], v)]
    assert not changed, (_("distill_step changed the teacher's {changed}; only the student "
                           "learns (and the teacher's batch-norm statistics must not move).").format(
                             changed=changed))
    with_grads = [name for name, p in teacher.named_parameters() if p.grad is not None]
    assert not with_grads, (_("distill_step left gradients on the teacher's {with_grads}; compute "
                              "the teacher's logits under torch.no_grad().").format(
                                with_grads=with_grads))
    assert all(p.requires_grad for p in teacher.parameters()), (
        _("distill_step changed requires_grad of the teacher's parameters; use torch.no_grad()."))
    assert isinstance(loss, float) and abs(loss - expected) <= 1e-4 * max(1.0, abs(expected)), (
        _("distill_step returned {loss!r}; expected {expected:.6g}: the teacher's logits must "
          "come from the teacher in eval mode.").format(loss=loss, expected=expected))


@pytest.mark.exercise("distill_step", points=3, check="student in train mode", weight=1)
def test_distill_step_trains_the_student_in_train_mode(nb):
    teacher = tiny_teacher(3)
    torch.manual_seed(4)
    student = ModeRecordingStudent().eval()
    before = [p.clone() for p in student.parameters()]
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    x, y = torch.randn(8, 6), torch.randint(0, 4, (8,))
    losses = in_child(nb.distill_step, repeated_steps, student, teacher, x, y, optimizer, 2.0,
                      0.8, 5, False)
    train_forwards, eval_forwards = int(student.train_forwards), int(student.eval_forwards)
    assert train_forwards >= 5 and eval_forwards == 0, (
        _("in five distill_step calls on a student passed in eval mode, the student ran "
          "{train_forwards} forward pass(es) in train mode and {eval_forwards} in eval mode; "
          "call student.train() before its forward pass.").format(
            train_forwards=train_forwards, eval_forwards=eval_forwards))
    assert student.training, _("after distill_step the student should be in train mode.")
    assert any(not torch.equal(a, b) for a, b in zip(before, student.parameters(), strict=True)), (
        _("distill_step did not change the student's parameters; call optimizer.step()."))
    assert losses[-1] < losses[0], (
        _("five distill_step calls on the same batch gave losses {losses_head}; "
          "the loss should fall (gradient descent on the student).").format(
            losses_head=[round(v, 4) for v in losses]))


# -------------------------------------------------------------- feature_distillation_loss

def hint_reference(student_features, teacher_features, projection):
    """Independent reference: the mean of squared differences, computed in float64."""
    with torch.no_grad():
        projected = projection.double()(student_features.double())
    return ((projected - teacher_features.double()) ** 2).mean()


def hint_gradients(feature_distillation_loss, student_features, teacher_features, projection):
    """Scenario: backpropagate the learner's hint loss; return the gradients that reach each input."""
    student_leaf = student_features.clone().requires_grad_(True)
    teacher_leaf = teacher_features.clone().requires_grad_(True)
    loss = feature_distillation_loss(student_leaf, teacher_leaf, projection)
    if not (isinstance(loss, torch.Tensor) and loss.requires_grad):
        return {"in_graph": False, "student": None, "teacher": None, "weight": None, "bias": None}
    loss.backward()
    return {"in_graph": True, "student": student_leaf.grad, "teacher": teacher_leaf.grad,
            "weight": projection.weight.grad, "bias": projection.bias.grad}


def seeded_linear(d_in, d_out, seed, dtype=torch.float32):
    torch.manual_seed(seed)
    return nn.Linear(d_in, d_out).to(dtype)


@pytest.mark.exercise("feature_distillation_loss", points=3, check="main property", weight=2)
@settings(max_examples=30, phases=NO_SHRINK)
@given(batch=st.integers(1, 9), d_s=st.integers(1, 8), d_t=st.integers(1, 12), dtype=dtypes,
       scale=scales, seed=st.integers(0, 10**6))
def test_feature_distillation_loss_matches_reference(nb, batch, d_s, d_t, dtype, scale, seed):
    generator = torch.Generator().manual_seed(seed)
    student = (torch.randn(batch, d_s, generator=generator, dtype=torch.float64)).to(dtype)
    teacher = (scale * torch.randn(batch, d_t, generator=generator, dtype=torch.float64)).to(dtype)
    projection = seeded_linear(d_s, d_t, seed, dtype)
    weight_before = projection.weight.detach().clone()
    got = call(nb.feature_distillation_loss, student, teacher, projection)
    expected = hint_reference(student, teacher, projection)
    setting = (_("feature_distillation_loss(student [{batch}, {d_s}], teacher [{batch}, {d_t}] "
                 "of scale {scale}, Linear({d_s}, {d_t}), {dtype})").format(
                   batch=batch, d_s=d_s, d_t=d_t, scale=scale, dtype=dtype))
    assert isinstance(got, torch.Tensor) and got.dim() == 0, (
        _("{setting} returned {got!r}; expected a scalar (0-dimensional) tensor.").format(
            setting=setting, got=got))
    assert got.dtype == dtype, _("{setting} returned {got_dtype}; expected {dtype}.").format(
                                   setting=setting, got_dtype=got.dtype, dtype=dtype)
    assert torch.allclose(got.detach().double(), expected, **tolerance(dtype)), (
        _("{setting} returned {got:.6g}; expected {expected:.6g}, the mean over all "
          "{batch} x {d_t} elements of (projection(student_features) - teacher_features)**2.").format(
            setting=setting, got=got.item(), expected=expected.item(), batch=batch, d_t=d_t))
    assert torch.equal(projection.weight, weight_before), (
        _("{setting} changed the projection's weights; the loss only computes a number.").format(
            setting=setting))


@pytest.mark.exercise("feature_distillation_loss", points=3, check="edge cases", weight=1)
def test_feature_distillation_loss_edge_cases(nb):
    torch.manual_seed(11)
    student, teacher = torch.randn(6, 5), torch.randn(6, 9)
    projection = seeded_linear(5, 9, 12)
    with torch.no_grad():
        matched = projection(student)
    zero = call(nb.feature_distillation_loss, student, matched, projection)
    assert abs(zero.item()) < 1e-10, (
        _("feature_distillation_loss(teacher_features = projection(student_features)) returned "
          "{zero:.3g}; expected 0.").format(zero=zero.item()))
    for maps_s, maps_t in [(torch.randn(3, 2, 5, 5), torch.randn(3, 8, 5, 5)),
                           (torch.randn(1, 4, 2, 3), torch.randn(1, 1, 2, 3))]:
        torch.manual_seed(13)
        conv = nn.Conv2d(maps_s.shape[1], maps_t.shape[1], kernel_size=1)
        got = call(nb.feature_distillation_loss, maps_s, maps_t, conv)
        expected = hint_reference(maps_s, maps_t, conv)
        assert torch.allclose(got.detach().double(), expected, rtol=1e-5, atol=1e-7), (
            _("feature_distillation_loss(feature maps {maps_s_shape} and {maps_t_shape}, "
              "a 1x1 Conv2d) returned {got:.6g}; expected {expected:.6g} (the mean "
              "over every element, whatever the features' shape).").format(
                maps_s_shape=list(maps_s.shape), maps_t_shape=list(maps_t.shape), got=got.item(),
                expected=expected.item()))
    same_width = torch.randn(4, 5)
    got = call(nb.feature_distillation_loss, student[:4], same_width, nn.Identity())
    expected = ((student[:4].double() - same_width.double()) ** 2).mean()
    assert torch.allclose(got.double(), expected, rtol=1e-5, atol=1e-7), (
        _("feature_distillation_loss(student [4, 5], teacher [4, 5], nn.Identity()) returned "
          "{got:.6g}; expected {expected:.6g}.").format(got=got.item(), expected=expected.item()))
    single = call(nb.feature_distillation_loss, student[:1], teacher[:1], projection)
    expected = hint_reference(student[:1], teacher[:1], projection)
    assert torch.allclose(single.detach().double(), expected, rtol=1e-5, atol=1e-7), (
        _("feature_distillation_loss(a batch of one) returned {single:.6g}; expected "
          "{expected:.6g}.").format(single=single.item(), expected=expected.item()))


@pytest.mark.exercise("feature_distillation_loss", points=3, check="no gradient to the teacher",
                      weight=1)
@settings(max_examples=8, phases=NO_SHRINK)
@given(batch=st.integers(1, 7), d_s=st.integers(1, 6), d_t=st.integers(1, 10),
       seed=st.integers(0, 10**6))
def test_feature_distillation_loss_gradients(nb, batch, d_s, d_t, seed):
    generator = torch.Generator().manual_seed(seed)
    student = torch.randn(batch, d_s, generator=generator)
    teacher = 2 * torch.randn(batch, d_t, generator=generator)
    projection = seeded_linear(d_s, d_t, seed)
    got = in_child(nb.feature_distillation_loss, hint_gradients, student, teacher,
                   copy.deepcopy(projection))
    setting = _("feature_distillation_loss(student [{batch}, {d_s}], teacher [{batch}, {d_t}])").format(
                  batch=batch, d_s=d_s, d_t=d_t)
    assert got["in_graph"], (_("{setting} returned a tensor without a gradient; the student's "
                               "features and the projection must stay in the graph.").format(
                                 setting=setting))
    assert got["teacher"] is None or not got["teacher"].abs().any(), (
        _("{setting} let a gradient of norm {got_teacher_norm:.3g} reach "
          "teacher_features; detach them.").format(
            setting=setting, got_teacher_norm=got['teacher'].norm().item()))
    student_leaf = student.clone().requires_grad_(True)
    twin = copy.deepcopy(projection)
    F.mse_loss(twin(student_leaf), teacher).backward()
    for name, mine, reference in [("student_features", got["student"], student_leaf.grad),
                                  (_("the projection's weight"), got["weight"], twin.weight.grad),
                                  (_("the projection's bias"), got["bias"], twin.bias.grad)]:
        assert mine is not None and torch.allclose(mine, reference, rtol=1e-4, atol=1e-7), (
            _("{setting}: the gradient with respect to {name} is "
              "{missing_or_wrong}; only the teacher's features are detached.").format(
                setting=setting, name=name,
                missing_or_wrong=_('missing') if mine is None else _('wrong')))


@pytest.mark.exercise("feature_distillation_loss", points=3, check="errors", weight=1)
def test_feature_distillation_loss_rejects_bad_arguments(nb):
    student, teacher = torch.randn(5, 4), torch.randn(5, 7)
    projection = seeded_linear(4, 7, 0)
    expect_value_error(nb.feature_distillation_loss, torch.randn(4), teacher, projection,
                       argument="student_features")
    expect_value_error(nb.feature_distillation_loss, torch.tensor(1.0), teacher, projection,
                       argument="student_features")
    expect_value_error(nb.feature_distillation_loss, student, torch.randn(6, 7), projection,
                       argument="teacher_features")
    expect_value_error(nb.feature_distillation_loss, student, torch.randn(7), projection,
                       argument="teacher_features")
    for wrong in (seeded_linear(4, 1, 1), seeded_linear(4, 6, 2), seeded_linear(4, 14, 3)):
        expect_value_error(nb.feature_distillation_loss, student, teacher, wrong,
                           argument="projection")
