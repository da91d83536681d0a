# expect: full
# why: torch.amp.autocast with keywords, zero_grad's default, float(loss) and a clip only when max_norm is set are the same step.
import torch
from torch import nn


def amp_train_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                   device_type: str, dtype: torch.dtype, max_norm=None) -> float:
    if max_norm is not None and max_norm <= 0:
        raise ValueError(f"max_norm={max_norm}: it must be positive")
    model.train()
    optimizer.zero_grad()
    with torch.amp.autocast(device_type=device_type, dtype=dtype):
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
    scaler.scale(loss).backward()
    if max_norm:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=max_norm)
    scaler.step(optimizer)
    scaler.update()
    return float(loss.detach())
