# expect: full
# why: detaching the teacher's output instead of torch.no_grad() also keeps gradients off the teacher.
import torch
from torch import nn


def distill_step(student: nn.Module, teacher: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 optimizer: torch.optim.Optimizer, T: float, alpha: float) -> float:
    student.train()
    teacher_logits = teacher(x).detach()
    student_logits = student(x)
    loss = distillation_loss(student_logits, teacher_logits, y, T, alpha)  # noqa: F821
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())
