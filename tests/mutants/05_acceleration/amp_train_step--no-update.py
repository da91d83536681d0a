# expect: lose
# why: forgets scaler.update(), so the scale never drops after an inf gradient.
import torch
from torch import nn


def amp_train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   device_type: str, dtype: torch.dtype) -> float:
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type, dtype=dtype):
        loss = nn.functional.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    return loss.item()
