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

from . import call, expect, expect_value_error, visible_check

__all__ = ["check_softmax_with_temperature", "check_distillation_loss", "check_distill_step",
           "reference_distillation_loss", "tiny_teacher", "tiny_student"]


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


@visible_check
def check_softmax_with_temperature(softmax_with_temperature) -> int:
    cases = 0
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    for T in (1.0, 2.0, 0.5, 10.0):
        got = call(softmax_with_temperature, logits, T)
        expected = torch.softmax(logits / T, dim=-1)
        expect(isinstance(got, torch.Tensor) and got.shape == logits.shape,
               f"softmax_with_temperature(logits of shape (2, 3), T={T}) returned "
               f"{got!r}; expected a tensor of shape (2, 3).")
        expect(torch.allclose(got, expected, atol=1e-6),
               f"softmax_with_temperature([[2, 1, 0], [0, 0, 3]], T={T}) returned "
               f"{got.tolist()}; expected {expected.tolist()} (softmax of logits / T).")
        cases += 1
    batch = torch.randn(2, 3, 5)
    got = call(softmax_with_temperature, batch, 3.0)
    expect(torch.allclose(got, torch.softmax(batch / 3.0, dim=-1), atol=1e-6),
           "softmax_with_temperature(logits of shape (2, 3, 5), T=3) is not the softmax over "
           "the LAST dimension (use dim=-1).")
    big = torch.tensor([[1000.0, 999.0, 0.0]])
    got = call(softmax_with_temperature, big, 1.0)
    expected = torch.softmax(big, dim=-1)
    expect(torch.isfinite(got).all() and torch.allclose(got, expected, atol=1e-6),
           f"softmax_with_temperature([[1000, 999, 0]], T=1) returned {got.tolist()}; expected "
           f"{expected.tolist()}. exp(1000) overflows: subtract the row maximum first, or use "
           "torch.softmax.")
    expect_value_error(softmax_with_temperature, logits, 0.0, argument="T")
    expect_value_error(softmax_with_temperature, logits, -1.0, argument="T")
    return cases + 4


@visible_check
def check_distillation_loss(distillation_loss) -> int:
    torch.manual_seed(0)
    student, teacher = torch.randn(8, 10), 3 * torch.randn(8, 10)
    labels = torch.randint(0, 10, (8,))
    cases = 0
    for T, alpha in [(1.0, 0.5), (4.0, 0.9), (2.0, 0.0), (8.0, 1.0)]:
        got = call(distillation_loss, student, teacher, labels, T, alpha)
        expected = reference_distillation_loss(student, teacher, labels, T, alpha)
        expect(isinstance(got, torch.Tensor) and got.dim() == 0,
               f"distillation_loss(T={T}, alpha={alpha}) returned {got!r}; expected a scalar "
               "(0-dimensional) tensor.")
        if alpha == 0.0:
            hint = "with alpha=0 it is just cross_entropy(student_logits, labels), no T."
        elif alpha == 1.0:
            hint = ("with alpha=1 it is T**2 * KL(p_teacher || p_student), both softened by T, "
                    "KL averaged over the batch (reduction='batchmean').")
        else:
            hint = ("alpha * T**2 * KL(p_teacher_T || p_student_T) (batch mean) + (1 - alpha) * "
                    "cross_entropy(student_logits, labels).")
        expect(torch.allclose(got, expected, rtol=1e-5, atol=1e-6),
               f"distillation_loss(random logits [8, 10], T={T}, alpha={alpha}) returned "
               f"{got.item():.6g}; expected {expected.item():.6g}: {hint}")
        cases += 1
    same = call(distillation_loss, teacher, teacher, labels, 4.0, 1.0)
    expect(abs(same.item()) < 1e-5,
           f"distillation_loss(student_logits == teacher_logits, T=4, alpha=1) returned "
           f"{same.item():.3g}; expected 0: the KL divergence of a distribution from itself is 0.")
    student_leaf = student.clone().requires_grad_(True)
    teacher_leaf = teacher.clone().requires_grad_(True)
    loss = call(distillation_loss, student_leaf, teacher_leaf, labels, 4.0, 0.5)
    expect(loss.requires_grad, "distillation_loss returned a tensor without a gradient: the "
           "student's logits must stay in the graph (don't detach them).")
    loss.backward()
    expect(teacher_leaf.grad is None or not teacher_leaf.grad.abs().any(),
           "distillation_loss let a gradient reach teacher_logits; detach them (the teacher is "
           "fixed, only the student learns).")
    expect_value_error(distillation_loss, student, teacher, labels, 0.0, 0.5, argument="T")
    expect_value_error(distillation_loss, student, teacher, labels, 2.0, 1.5, argument="alpha")
    return cases + 4


@visible_check
def check_distill_step(distill_step) -> int:
    teacher, student = tiny_teacher(), tiny_student()
    torch.manual_seed(2)
    x, y = torch.randn(12, 6), torch.randint(0, 4, (12,))
    student.eval()  # distill_step must put it in train mode itself
    reference = copy.deepcopy(student)
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    loss = call(distill_step, student, teacher, x, y, optimizer, 2.0, 0.7, modifies=(0, 1))
    expect(isinstance(loss, float),
           f"distill_step returned {loss!r} of type {type(loss).__name__}; expected a Python "
           "float (use loss.item()).")
    with torch.no_grad():
        teacher_logits = teacher(x)
    expected_loss = reference_distillation_loss(reference(x), teacher_logits, y, 2.0, 0.7)
    expect(abs(loss - expected_loss.item()) < 1e-5,
           f"distill_step returned {loss:.6g}; expected {expected_loss.item():.6g}, the "
           "distillation loss of the student BEFORE the step (teacher in eval mode).")
    expect(student.training, "after distill_step the student is in eval mode; call "
           "student.train() before its forward pass.")
    expect(not teacher.training, "distill_step put the teacher in train mode; it must stay in "
           "eval mode (its dropout or batch-norm would change its soft targets).")
    expect(all(torch.equal(teacher_before[k], v) for k, v in teacher.state_dict().items()),
           "distill_step changed the teacher's parameters; only the student learns.")
    expect(all(p.grad is None for p in teacher.parameters()),
           "distill_step left gradients on the teacher's parameters; compute the teacher's "
           "logits under torch.no_grad().")
    changed = any(not torch.equal(a, b) for a, b in
                  zip(student.parameters(), reference.parameters(), strict=True))
    expect(changed, "distill_step did not change the student's parameters; call "
           "loss.backward() and optimizer.step().")
    return 7
