# expect: lose
# why: updates the running maximum but never rescales the sum and output accumulated under the old maximum.
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
    for start in range(0, T, block_size):
        stop = min(start + block_size, T)
        s = q @ k[..., start:stop, :].transpose(-2, -1) / math.sqrt(d)
        s = s.masked_fill(torch.arange(start, stop)[None, :] > rows, float("-inf"))
        m = torch.maximum(m, s.amax(-1, keepdim=True))
        safe = torch.where(torch.isinf(m), torch.zeros_like(m), m)
        p = torch.exp(s - safe)
        total = total + p.sum(-1, keepdim=True)
        acc = acc + p @ v[..., start:stop, :]
    return acc / total
