# expect: full
# why: torch.amp.autocast with keywords, zero_grad's default and float(loss) are the same step.
import torch
from torch import nn


def amp_train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   device_type: str, dtype: torch.dtype) -> float:
    optimizer.zero_grad()
    with torch.amp.autocast(device_type=device_type, dtype=dtype):
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())
