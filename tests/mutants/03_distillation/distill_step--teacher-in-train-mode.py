# expect: lose
# why: calls train() on both models, so the teacher's dropout is active and it is left in train mode.
import torch
from torch import nn


def distill_step(student: nn.Module, teacher: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 optimizer: torch.optim.Optimizer, T: float, alpha: float) -> float:
    student.train()
    teacher.train()
    with torch.no_grad():
        teacher_logits = teacher(x)
    optimizer.zero_grad()
    loss = distillation_loss(student(x), teacher_logits, y, T, alpha)  # noqa: F821
    loss.backward()
    optimizer.step()
    return loss.item()
