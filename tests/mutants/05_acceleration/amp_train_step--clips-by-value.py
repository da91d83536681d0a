# expect: lose
# why: clips every gradient element to [-max_norm, max_norm] (clip_grad_value_) instead of rescaling the whole gradient to total norm max_norm.
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
    if max_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_value_(model.parameters(), max_norm)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
