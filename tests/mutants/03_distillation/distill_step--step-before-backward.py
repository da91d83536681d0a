# expect: lose
# why: calls optimizer.step() before loss.backward(), so each step uses stale (or no) gradients.
import torch
from torch import nn


def distill_step(student: nn.Module, teacher: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 optimizer: torch.optim.Optimizer, T: float, alpha: float) -> float:
    student.train()
    with torch.no_grad():
        teacher_logits = teacher(x)
    optimizer.zero_grad()
    loss = distillation_loss(student(x), teacher_logits, y, T, alpha)  # noqa: F821
    optimizer.step()
    loss.backward()
    return loss.item()
