# expect: full
# why: a custom autograd.Function for the weight STE (identity backward) and torch.nn.functional for each module: the same step written differently.
# ruff: noqa: F821 (the lesson's own functions come from the notebook)
import torch
from torch import nn


class _RoundWeight(torch.autograd.Function):
    @staticmethod
    def forward(ctx, w, bits):
        q, scales = symmetric_per_channel_quantize(w, bits)
        return q.to(w.dtype) * scales.to(w.dtype).unsqueeze(1)

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def qat_step(layers, x, y, optimizer, act_qparams, bits):
    linear_count = sum(isinstance(m, nn.Linear) for m in layers)
    if len(act_qparams) != linear_count:
        raise ValueError(f"act_qparams has {len(act_qparams)} entries for {linear_count} Linear layers")
    if bits < 2:
        raise ValueError(f"bits must be >= 2, got {bits}")
    layers.train()
    for p in layers.parameters():
        p.grad = None
    optimizer.zero_grad(set_to_none=True)
    h = x
    linears = iter(zip([m for m in layers if isinstance(m, nn.Linear)], act_qparams, strict=True))
    for module in layers:
        if isinstance(module, nn.Linear):
            layer, (scale, zero_point) = next(linears)
            h = fake_quantize(h, scale, zero_point, bits)
            h = h @ _RoundWeight.apply(layer.weight, bits).t() + layer.bias
        else:
            h = torch.relu(h)
    loss = nn.functional.cross_entropy(h, y, reduction="sum") / len(y)
    loss.backward()
    optimizer.step()
    return float(loss)
