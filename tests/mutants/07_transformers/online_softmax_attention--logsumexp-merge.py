# expect: full
# why: merges each block's normalized partial result by running log-sum-exp, an equivalent exact form of the recurrence.
import math

import torch


def online_softmax_attention(q, k, v, block_size):
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    T, d = q.shape[-2], q.shape[-1]
    lse = torch.full(q.shape[:-1] + (1,), float("-inf"), dtype=q.dtype)
    out = torch.zeros_like(q)
    rows = torch.arange(T)[:, None]
    for start in range(0, T, block_size):
        stop = min(start + block_size, T)
        s = q @ k[..., start:stop, :].transpose(-2, -1) / math.sqrt(d)
        s = s.masked_fill(torch.arange(start, stop)[None, :] > rows, float("-inf"))
        block_lse = torch.logsumexp(s, dim=-1, keepdim=True)
        seen = ~torch.isinf(block_lse)
        block_out = torch.where(seen, torch.softmax(torch.where(seen, s, torch.zeros_like(s)),
                                                    dim=-1) @ v[..., start:stop, :], 0.0)
        new_lse = torch.logaddexp(lse, block_lse)
        old_w = torch.where(torch.isinf(lse), torch.zeros_like(lse), torch.exp(lse - new_lse))
        new_w = torch.where(seen, torch.exp(block_lse - new_lse), torch.zeros_like(lse))
        out = out * old_w + block_out * new_w
        lse = new_lse
    return out
