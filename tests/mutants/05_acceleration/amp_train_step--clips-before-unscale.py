# expect: lose
# why: clips right after the scaled backward, so with an enabled scaler it clips gradients that are the scale times too large and the true step is far smaller than max_norm allows.
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
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
