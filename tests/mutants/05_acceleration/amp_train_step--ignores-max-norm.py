# expect: lose
# why: accepts max_norm and validates it but never clips, so a large gradient takes a full step.
import torch
from torch import nn


def amp_train_step(model, x, y, optimizer, scaler, device_type, dtype, max_norm=None):
    if max_norm is not None and max_norm <= 0:
        raise ValueError("max_norm must be positive")
    model.train()
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type, dtype=dtype):
        loss = nn.functional.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
