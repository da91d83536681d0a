# expect: lose
# why: returns the loss recomputed after the optimizer step instead of the loss that was backpropagated.
# ruff: noqa: F821 (the lesson's own functions come from the notebook)
import torch
from torch import nn


def qat_step(layers, x, y, optimizer, act_qparams, bits):
    linear_count = sum(isinstance(m, nn.Linear) for m in layers)
    if len(act_qparams) != linear_count:
        raise ValueError(f"act_qparams has {len(act_qparams)} entries for {linear_count} Linear layers")
    if bits < 2:
        raise ValueError(f"bits must be >= 2, got {bits}")
    layers.train()
    optimizer.zero_grad()

    def forward():
        h, i = x, 0
        for module in layers:
            if isinstance(module, nn.Linear):
                h = fake_quantize(h, *act_qparams[i], bits)
                q, scales = symmetric_per_channel_quantize(module.weight.detach(), bits)
                w_q = q.float() * scales.float()[:, None]
                h = nn.functional.linear(h, module.weight + (w_q - module.weight).detach(), module.bias)
                i += 1
            else:
                h = module(h)
        return nn.functional.cross_entropy(h, y)

    forward().backward()
    optimizer.step()
    with torch.no_grad():
        return forward().item()
