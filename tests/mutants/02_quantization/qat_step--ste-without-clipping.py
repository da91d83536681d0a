# expect: lose
# why: writes the activation STE as x + (x_q - x).detach(), passing gradients also where the input was clipped.
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
            scale, zero_point = act_qparams[i]
            h_q = dequantize(quantize(h.detach(), scale, zero_point, bits), scale, zero_point)
            h = h + (h_q - h).detach()
            q, scales = symmetric_per_channel_quantize(module.weight.detach(), bits)
            w_q = q.float() * scales.float()[:, None]
            h = nn.functional.linear(h, module.weight + (w_q - module.weight).detach(), module.bias)
            i += 1
        else:
            h = module(h)
    loss = nn.functional.cross_entropy(h, y)
    loss.backward()
    optimizer.step()
    return loss.item()
