# expect: lose
# why: forgets the causal mask inside the blocks, so every position attends to the future.
import math

import torch


def online_softmax_attention(q, k, v, block_size):
    if block_size < 1:
        raise ValueError("block_size must be >= 1")
    T, d = q.shape[-2], q.shape[-1]
    m = torch.full(q.shape[:-1] + (1,), float("-inf"), dtype=q.dtype)
    total = torch.zeros(q.shape[:-1] + (1,), dtype=q.dtype)
    acc = torch.zeros_like(q)
    for start in range(0, T, block_size):
        s = q @ k[..., start:start + block_size, :].transpose(-2, -1) / math.sqrt(d)
        new_m = torch.maximum(m, s.amax(-1, keepdim=True))
        correction = torch.exp(m - new_m)
        p = torch.exp(s - new_m)
        total = total * correction + p.sum(-1, keepdim=True)
        acc = acc * correction + p @ v[..., start:start + block_size, :]
        m = new_m
    return acc / total
