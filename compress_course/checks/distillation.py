"""Visible checks of lesson 03 (distillation).

``softmax_with_temperature``, ``distillation_loss`` and ``distill_step``. The references
here are written from PyTorch's own functions (``torch.softmax``, ``F.kl_div``,
``F.cross_entropy``), never from the learner's code.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from ..i18n import _
from . import call, expect, expect_value_error, part, visible_check

__all__ = ["check_softmax_with_temperature", "check_distillation_loss", "check_distill_step",
           "check_feature_distillation_loss", "reference_feature_distillation_loss",
           "reference_distillation_loss", "tiny_teacher", "tiny_student", "bn_teacher"]


def reference_distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                                labels: torch.Tensor, T: float, alpha: float) -> torch.Tensor:
    """Hinton et al.'s loss from PyTorch's functions (logits ``[B, C]``, labels ``[B]``)."""
    soft = F.kl_div(F.log_softmax(student_logits / T, dim=-1),
                    F.softmax(teacher_logits.detach() / T, dim=-1), reduction="batchmean")
    return alpha * T**2 * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def tiny_teacher(seed: int = 0, dropout: float = 0.5) -> nn.Module:
    """A small seeded teacher 6-16-4 with Dropout, in eval mode (dropout would show in train mode)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(16, 4)).eval()


def tiny_student(seed: int = 1) -> nn.Module:
    """A small seeded student 6-5-4 (no dropout, so one step is deterministic)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 4))


def bn_teacher(seed: int = 0) -> nn.Module:
    """A small seeded teacher 6-16-4 with BatchNorm and Dropout, in eval mode.

    In train mode its dropout would change its outputs and its batch-norm would update its
    running statistics, so a teacher left in eval mode is easy to tell from one that is not.
    """
    torch.manual_seed(seed)
    teacher = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5),
                            nn.Linear(16, 4))
    with torch.no_grad():
        teacher[1].running_mean.normal_()
    return teacher.eval()


class _ModeRecordingStudent(nn.Module):
    """A 6-5-4 student that counts its forward passes in train and in eval mode."""

    def __init__(self) -> None:
        super().__init__()
        self.body = tiny_student()
        self.train_forwards = self.eval_forwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.train_forwards += 1
        else:
            self.eval_forwards += 1
        return self.body(x)


@visible_check
def check_softmax_with_temperature(softmax_with_temperature) -> int:
    # The parts carry the names the hidden checks give their points to.
    cases = 0
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    with part("main property"):
        for T in (1.0, 2.0, 0.5, 10.0):
            got = call(softmax_with_temperature, logits, T)
            expected = torch.softmax(logits / T, dim=-1)
            expect(isinstance(got, torch.Tensor) and got.shape == logits.shape,
                   _("softmax_with_temperature(logits of shape (2, 3), T={T}) returned "
                     "{got!r}; expected a tensor of shape (2, 3).").format(T=T, got=got))
            expect(torch.allclose(got, expected, atol=1e-6),
                   _("softmax_with_temperature([[2, 1, 0], [0, 0, 3]], T={T}) returned {got}; "
                     "expected {expected} (softmax of logits / T).").format(
                     T=T, got=got.tolist(), expected=expected.tolist()))
            cases += 1
        batch = torch.randn(2, 3, 5)
        got = call(softmax_with_temperature, batch, 3.0)
        expect(torch.allclose(got, torch.softmax(batch / 3.0, dim=-1), atol=1e-6),
               _("softmax_with_temperature(logits of shape (2, 3, 5), T=3) is not the softmax "
                 "over the LAST dimension (the default dim=-1)."))
        for dim in (0, 1, -2):
            got = call(softmax_with_temperature, batch, 3.0, dim=dim)
            expected = torch.softmax(batch / 3.0, dim=dim)
            expect(isinstance(got, torch.Tensor) and got.shape == batch.shape
                   and torch.allclose(got, expected, atol=1e-6),
                   _("softmax_with_temperature(logits of shape (2, 3, 5), T=3, dim={dim}) is "
                     "not the softmax along dim {dim}: use dim for the max, the exp's sum, "
                     "everything.").format(dim=dim))
            cases += 1
        double = logits.double()
        got = call(softmax_with_temperature, double, 2.0)
        expect(isinstance(got, torch.Tensor) and got.dtype == torch.float64,
               _("softmax_with_temperature(float64 logits, T=2) returned {dtype}; expected "
                 "float64, the dtype of the logits.").format(dtype=getattr(got, 'dtype', got)))
        cases += 2
    with part("edge cases"):
        for big in ([[1000.0, 999.0, 0.0]], [[1e30, -1e30, 0.0]]):
            got = call(softmax_with_temperature, torch.tensor(big), 1.0)
            expected = torch.softmax(torch.tensor(big), dim=-1)
            expect(torch.isfinite(got).all() and torch.allclose(got, expected, atol=1e-6),
                   _("softmax_with_temperature({big}, T=1) returned {got}; expected "
                     "{expected}. exp(1000) overflows: subtract the maximum first.").format(
                     big=big, got=got.tolist(), expected=expected.tolist()))
        huge = torch.tensor([[1e36, 0.0, -1e36]])
        got = call(softmax_with_temperature, huge, 1e-3)
        expect(torch.isfinite(got).all() and torch.allclose(got, torch.tensor([[1.0, 0.0, 0.0]])),
               _("softmax_with_temperature([[1e36, 0, -1e36]], T=1e-3) returned {got}; "
                 "expected [[1, 0, 0]]. 1e36 / 1e-3 is inf in float32: subtract the maximum "
                 "BEFORE dividing by T.").format(got=got.tolist()))
        cold = call(softmax_with_temperature, torch.tensor([[3.0, 1.0, 2.0]]), 1e-4)
        expect(torch.allclose(cold, torch.tensor([[1.0, 0.0, 0.0]]), atol=1e-6),
               _("softmax_with_temperature([[3, 1, 2]], T=1e-4) returned {cold}; expected "
                 "one-hot on the largest logit (T -> 0), with no inf or nan.").format(
                 cold=cold.tolist()))
        tied = call(softmax_with_temperature, torch.tensor([[3.0, 3.0, 1.0]]), 1e-4)
        expect(torch.allclose(tied, torch.tensor([[0.5, 0.5, 0.0]]), atol=1e-6),
               _("softmax_with_temperature([[3, 3, 1]], T=1e-4) returned {tied}; expected "
                 "[[0.5, 0.5, 0]]: classes tied for the largest logit share it.").format(
                 tied=tied.tolist()))
        line = torch.tensor([0.0, 1.0, 2.0])
        got = call(softmax_with_temperature, line, 2.0)
        expected = torch.softmax(line / 2, dim=0)
        expect(isinstance(got, torch.Tensor) and got.shape == (3,)
               and torch.allclose(got, expected, atol=1e-6),
               _("softmax_with_temperature([0, 1, 2] (a 1-D tensor), T=2) returned {got!r}; "
                 "expected {expected}.").format(got=got, expected=expected.tolist()))
        cases += 6
    with part("errors"):
        expect_value_error(softmax_with_temperature, logits, 0.0, argument="T")
        expect_value_error(softmax_with_temperature, logits, -1.0, argument="T")
        expect_value_error(softmax_with_temperature, logits, 1.0, dim=2, argument="dim")
        expect_value_error(softmax_with_temperature, logits, 1.0, dim=-3, argument="dim")
        cases += 4
    return cases


@visible_check
def check_distillation_loss(distillation_loss) -> int:
    torch.manual_seed(0)
    student, teacher = torch.randn(8, 10), 3 * torch.randn(8, 10)
    labels = torch.randint(0, 10, (8,))
    cases = 0
    with part("main property"):
        for T, alpha in [(1.0, 0.5), (4.0, 0.9), (2.0, 0.0), (8.0, 1.0)]:
            got = call(distillation_loss, student, teacher, labels, T, alpha)
            expected = reference_distillation_loss(student, teacher, labels, T, alpha)
            expect(isinstance(got, torch.Tensor) and got.dim() == 0,
                   _("distillation_loss(T={T}, alpha={alpha}) returned {got!r}; expected a "
                     "scalar (0-dimensional) tensor.").format(T=T, alpha=alpha, got=got))
            if alpha == 0.0:
                hint = _("with alpha=0 it is just cross_entropy(student_logits, labels), no T.")
            elif alpha == 1.0:
                hint = (_("with alpha=1 it is T**2 * KL(p_teacher || p_student), both softened "
                          "by T, KL averaged over the batch (reduction='batchmean')."))
            else:
                hint = (_("alpha * T**2 * KL(p_teacher_T || p_student_T) (batch mean) + (1 - "
                          "alpha) * cross_entropy(student_logits, labels)."))
            expect(torch.allclose(got, expected, rtol=1e-5, atol=1e-6),
                   _("distillation_loss(random logits [8, 10], T={T}, alpha={alpha}) returned "
                     "{got:.6g}; expected {expected:.6g}: {hint}").format(
                     T=T, alpha=alpha, got=got.item(), expected=expected.item(), hint=hint))
            cases += 1
        same = call(distillation_loss, teacher, teacher, labels, 4.0, 1.0)
        expect(abs(same.item()) < 1e-5,
               _("distillation_loss(student_logits == teacher_logits, T=4, alpha=1) returned "
                 "{same:.3g}; expected 0: the KL divergence of a distribution from itself is 0.").format(
                 same=same.item()))
        cases += 1
    with part("gradients"):
        student_leaf = student.clone().requires_grad_(True)
        teacher_leaf = teacher.clone().requires_grad_(True)
        loss = call(distillation_loss, student_leaf, teacher_leaf, labels, 4.0, 0.5)
        expect(isinstance(loss, torch.Tensor) and loss.requires_grad,
               _("distillation_loss returned a tensor without a gradient: the student's logits "
                 "must stay in the graph (don't detach them)."))
        loss.backward()
        expect(teacher_leaf.grad is None or not teacher_leaf.grad.abs().any(),
               _("distillation_loss let a gradient reach teacher_logits; detach them (the "
                 "teacher is fixed, only the student learns)."))
        reference_leaf = student.clone().requires_grad_(True)
        reference_distillation_loss(reference_leaf, teacher, labels, 4.0, 0.5).backward()
        expect(student_leaf.grad is not None and torch.allclose(
                   student_leaf.grad, reference_leaf.grad, rtol=1e-4, atol=1e-6),
               _("distillation_loss(T=4, alpha=0.5): the gradient with respect to "
                 "student_logits differs from the reference loss's gradient."))
        cases += 1
    with part("errors"):
        expect_value_error(distillation_loss, student, teacher, labels, 0.0, 0.5, argument="T")
        expect_value_error(distillation_loss, student, teacher, labels, 2.0, 1.5,
                           argument="alpha")
        expect_value_error(distillation_loss, student, teacher, labels, 2.0, -0.1,
                           argument="alpha")
        cases += 3
    return cases


@visible_check
def check_distill_step(distill_step) -> int:
    torch.manual_seed(2)
    x, y = torch.randn(12, 6), torch.randint(0, 4, (12,))
    with part("main property"):
        teacher, student = tiny_teacher(), tiny_student()
        reference = copy.deepcopy(student).train()
        optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
        reference_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
        with torch.no_grad():
            teacher_logits = teacher(x)
        for p in student.parameters():  # stale gradients from an earlier backward
            p.grad = torch.ones_like(p)
        for step in (1, 2):
            loss = call(distill_step, student, teacher, x, y, optimizer, 2.0, 0.7,
                        modifies=(0, 1))
            expect(isinstance(loss, float),
                   _("distill_step returned {loss!r} of type {loss_type}; expected a Python "
                     "float (use loss.item()).").format(loss=loss, loss_type=type(loss).__name__))
            reference_optimizer.zero_grad()
            expected = reference_distillation_loss(reference(x), teacher_logits, y, 2.0, 0.7)
            expected.backward()
            reference_optimizer.step()
            expect(abs(loss - expected.item()) < 1e-5,
                   _("distill_step call {step} returned {loss:.6g}; expected {expected:.6g}, "
                     "the distillation loss of the student BEFORE the step, with the teacher's "
                     "logits from the teacher in eval mode.").format(
                     step=step, loss=loss, expected=expected.item()))
            expect(all(torch.allclose(p, q, rtol=1e-5, atol=1e-6) for p, q in
                       zip(student.parameters(), reference.parameters(), strict=True)),
                   _("after distill_step call {step} the student's parameters differ from one "
                     "SGD step on the distillation loss (the student came with stale "
                     "gradients): zero the gradients, backward, then optimizer.step(), once "
                     "per call.").format(step=step))
    with part("teacher untouched"):
        teacher, student = bn_teacher(), tiny_student()
        teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
        optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
        call(distill_step, student, teacher, x, y, optimizer, 2.0, 0.7, modifies=(0, 1))
        expect(not teacher.training and all(not m.training for m in teacher.modules()),
               _("distill_step put the teacher (or one of its layers) in train mode; it is "
                 "passed in eval mode and must stay so (its dropout and batch-norm would "
                 "change its soft targets)."))
        changed = [k for k, v in teacher.state_dict().items()
                   if not torch.equal(teacher_before[k], v)]
        expect(not changed, _("distill_step changed the teacher's {changed}; only the student "
                              "learns (and the teacher's batch-norm statistics must not move).").format(
                              changed=changed))
        expect(all(p.grad is None for p in teacher.parameters()),
               _("distill_step left gradients on the teacher's parameters; compute the "
                 "teacher's logits under torch.no_grad()."))
        expect(all(p.requires_grad for p in teacher.parameters()),
               _("distill_step changed requires_grad of the teacher's parameters; leave them "
                 "as they are and use torch.no_grad() instead."))
    with part("student in train mode"):
        teacher, student = tiny_teacher(), _ModeRecordingStudent()
        student.eval()  # distill_step must put it in train mode itself
        optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
        call(distill_step, student, teacher, x, y, optimizer, 2.0, 0.7, modifies=(0, 1))
        expect(student.training and student.train_forwards >= 1 and student.eval_forwards == 0,
               _("distill_step on a student passed in eval mode ran {train_forwards} "
                 "forward pass(es) in train mode and {eval_forwards} in eval mode, and "
                 "left it in {mode} mode; call student.train() before its forward pass.").format(
                 train_forwards=student.train_forwards,
                 eval_forwards=student.eval_forwards,
                 mode='train' if student.training else 'eval'))
    return 4


def reference_feature_distillation_loss(student_features: torch.Tensor,
                                        teacher_features: torch.Tensor,
                                        projection: nn.Module) -> torch.Tensor:
    """FitNets' hint loss as the lesson defines it: ``F.mse_loss`` (mean over every element)
    between ``projection(student_features)`` and the detached ``teacher_features``."""
    return F.mse_loss(projection(student_features), teacher_features.detach())


@visible_check
def check_feature_distillation_loss(feature_distillation_loss) -> int:
    cases = 0
    torch.manual_seed(3)
    student, teacher = torch.randn(5, 4), torch.randn(5, 7)
    projection = nn.Linear(4, 7)
    with part("main property"):
        got = call(feature_distillation_loss, student, teacher, projection)
        with torch.no_grad():
            expected = ((projection(student) - teacher) ** 2).mean()
        expect(isinstance(got, torch.Tensor) and got.dim() == 0,
               _("feature_distillation_loss(student [5, 4], teacher [5, 7], Linear(4, 7)) "
                 "returned {got!r}; expected a scalar (0-dimensional) tensor.").format(got=got))
        expect(torch.allclose(got.detach(), expected, rtol=1e-5, atol=1e-7),
               _("feature_distillation_loss(student [5, 4], teacher [5, 7], Linear(4, 7)) "
                 "returned {got:.6g}; expected {expected:.6g}, the mean over all 5 x 7 "
                 "elements of (projection(student_features) - teacher_features)**2. The sum, "
                 "or the mean over the batch of per-example sums, is a different number.").format(
                 got=got.item(), expected=expected.item()))
        double = call(feature_distillation_loss, student.double(), teacher.double(),
                      nn.Linear(4, 7).double())
        expect(isinstance(double, torch.Tensor) and double.dtype == torch.float64,
               _("feature_distillation_loss(float64 features, float64 Linear) returned "
                 "{dtype}; expected float64.").format(dtype=getattr(double, 'dtype', double)))
        cases += 2
    with part("edge cases"):
        with torch.no_grad():
            matched = projection(student)
        zero = call(feature_distillation_loss, student, matched, projection)
        expect(abs(zero.item()) < 1e-10,
               _("feature_distillation_loss(teacher_features = projection(student_features)) "
                 "returned {zero:.3g}; expected 0.").format(zero=zero.item()))
        maps_s, maps_t = torch.randn(2, 3, 4, 4), torch.randn(2, 6, 4, 4)
        conv = nn.Conv2d(3, 6, kernel_size=1)
        got = call(feature_distillation_loss, maps_s, maps_t, conv)
        with torch.no_grad():
            expected = ((conv(maps_s) - maps_t) ** 2).mean()
        expect(torch.allclose(got.detach(), expected, rtol=1e-5, atol=1e-7),
               _("feature_distillation_loss(feature maps [2, 3, 4, 4] and [2, 6, 4, 4], a 1x1 "
                 "Conv2d(3, 6)) returned {got:.6g}; expected {expected:.6g} (mean over every "
                 "element, whatever the features' shape).").format(
                 got=got.item(), expected=expected.item()))
        single = call(feature_distillation_loss, student[:1], teacher[:1], projection)
        with torch.no_grad():
            expected = ((projection(student[:1]) - teacher[:1]) ** 2).mean()
        expect(torch.allclose(single.detach(), expected, rtol=1e-5, atol=1e-7),
               _("feature_distillation_loss(a batch of one) returned {single:.6g}; expected "
                 "{expected:.6g}.").format(single=single.item(), expected=expected.item()))
        cases += 3
    with part("no gradient to the teacher"):
        student_leaf = student.clone().requires_grad_(True)
        teacher_leaf = teacher.clone().requires_grad_(True)
        trained = copy.deepcopy(projection)
        loss = call(feature_distillation_loss, student_leaf, teacher_leaf, trained)
        expect(isinstance(loss, torch.Tensor) and loss.requires_grad,
               _("feature_distillation_loss returned a tensor without a gradient: the "
                 "student's features and the projection must stay in the graph."))
        loss.backward()
        expect(teacher_leaf.grad is None or not teacher_leaf.grad.abs().any(),
               _("feature_distillation_loss let a gradient reach teacher_features; detach them "
                 "(the teacher is fixed)."))
        reference_student = student.clone().requires_grad_(True)
        reference_projection = copy.deepcopy(projection)
        reference_feature_distillation_loss(reference_student, teacher,
                                            reference_projection).backward()
        expect(student_leaf.grad is not None
               and torch.allclose(student_leaf.grad, reference_student.grad, rtol=1e-4, atol=1e-7),
               _("feature_distillation_loss: the gradient with respect to student_features "
                 "differs from the reference's (don't detach the student's features)."))
        expect(trained.weight.grad is not None and torch.allclose(
                   trained.weight.grad, reference_projection.weight.grad, rtol=1e-4, atol=1e-7),
               _("feature_distillation_loss: the projection's weight got no gradient, or a "
                 "wrong one; the projection learns together with the student."))
        cases += 1
    with part("errors"):
        expect_value_error(feature_distillation_loss, torch.randn(4), teacher, projection,
                           argument="student_features")
        expect_value_error(feature_distillation_loss, student, torch.randn(3, 7), projection,
                           argument="teacher_features")
        expect_value_error(feature_distillation_loss, student, teacher, nn.Linear(4, 1),
                           argument="projection")
        expect_value_error(feature_distillation_loss, student, teacher, nn.Linear(4, 6),
                           argument="projection")
        cases += 4
    return cases
