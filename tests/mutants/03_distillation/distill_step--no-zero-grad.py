# expect: lose
# why: never zeroes the gradients, so each step adds the previous steps' gradients.
import torch
from torch import nn


def distill_step(student: nn.Module, teacher: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 optimizer: torch.optim.Optimizer, T: float, alpha: float) -> float:
    student.train()
    with torch.no_grad():
        teacher_logits = teacher(x)
    loss = distillation_loss(student(x), teacher_logits, y, T, alpha)  # noqa: F821
    loss.backward()
    optimizer.step()
    return loss.item()
