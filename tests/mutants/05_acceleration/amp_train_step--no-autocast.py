# expect: lose
# why: forgets torch.autocast, so the forward pass runs in float32.
import torch
from torch import nn


def amp_train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   device_type: str, dtype: torch.dtype) -> float:
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
