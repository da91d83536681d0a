# expect: lose
# why: uses the dequantized weight as a constant (no straight-through term), so the float weights get no gradient and only the biases learn.
# ruff: noqa: F821 (the lesson's own functions come from the notebook)
from torch import nn


def qat_step(layers, x, y, optimizer, act_qparams, bits):
    linear_count = sum(isinstance(m, nn.Linear) for m in layers)
    if len(act_qparams) != linear_count:
        raise ValueError(f"act_qparams has {len(act_qparams)} entries for {linear_count} Linear layers")
    if bits < 2:
        raise ValueError(f"bits must be >= 2, got {bits}")
    layers.train()
    optimizer.zero_grad()
    h, i = x, 0
    for module in layers:
        if isinstance(module, nn.Linear):
            h = fake_quantize(h, *act_qparams[i], bits)
            q, scales = symmetric_per_channel_quantize(module.weight.detach(), bits)
            h = nn.functional.linear(h, q.float() * scales.float()[:, None], module.bias)
            i += 1
        else:
            h = module(h)
    loss = nn.functional.cross_entropy(h, y)
    loss.backward()
    optimizer.step()
    return loss.item()
