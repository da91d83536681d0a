# expect: lose
# why: never zeroes the gradients, so each step adds the previous step's gradients.
import torch
from torch import nn


def amp_train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   device_type: str, dtype: torch.dtype) -> float:
    with torch.autocast(device_type, dtype=dtype):
        loss = nn.functional.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
