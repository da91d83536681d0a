# expect: lose
# why: fake-quantizes only the activations and leaves the weights in float, so the forward pass is not what the integer model computes.
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
            h = module(h)
            i += 1
        else:
            h = module(h)
    loss = nn.functional.cross_entropy(h, y)
    loss.backward()
    optimizer.step()
    return loss.item()
