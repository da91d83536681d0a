# expect: lose
# why: clips correctly but accepts max_norm = 0 or a negative value, which silently zeroes or flips every gradient.
import torch
from torch import nn


def amp_train_step(model, x, y, optimizer, scaler, device_type, dtype, max_norm=None):
    model.train()
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type, dtype=dtype):
        loss = nn.functional.cross_entropy(model(x), y)
    scaler.scale(loss).backward()
    if max_norm is not None:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    scaler.step(optimizer)
    scaler.update()
    return loss.item()
