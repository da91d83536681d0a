# expect: lose
# why: loops over whole blocks only, so when block_size does not divide T the last keys are never seen.
import math

import torch


def online_softmax_attention(q, k, v, block_size):
    if block_size < 1:
        raise ValueError("block_size must be >= 1")
    T, d = q.shape[-2], q.shape[-1]
    m = torch.full(q.shape[:-1] + (1,), float("-inf"), dtype=q.dtype)
    total = torch.zeros(q.shape[:-1] + (1,), dtype=q.dtype)
    acc = torch.zeros_like(q)
    rows = torch.arange(T)[:, None]
    for start in range(0, max(T - block_size + 1, 1), block_size):
        stop = min(start + block_size, T)
        s = q @ k[..., start:stop, :].transpose(-2, -1) / math.sqrt(d)
        s = s.masked_fill(torch.arange(start, stop)[None, :] > rows, float("-inf"))
        new_m = torch.maximum(m, s.amax(-1, keepdim=True))
        safe = torch.where(torch.isinf(new_m), torch.zeros_like(new_m), new_m)
        correction = torch.exp(m - safe)
        p = torch.exp(s - safe)
        total = total * correction + p.sum(-1, keepdim=True)
        acc = acc * correction + p @ v[..., start:stop, :]
        m = new_m
    return acc / total
