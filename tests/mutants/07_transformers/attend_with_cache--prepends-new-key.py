# expect: lose
# why: puts the new key and value at the front of the cache; the output is the same but the cache order is wrong for the next step's positions.
import math

import torch


def attend_with_cache(q_t, k_t, v_t, cache):
    if q_t.dim() != 4 or q_t.shape[2] != 1:
        raise ValueError("q_t must be [batch, heads, 1, d]")
    if cache is None:
        keys, values = k_t, v_t
    else:
        K, V = cache
        if K.shape[:2] != k_t.shape[:2] or K.shape[3] != k_t.shape[3] or V.shape != K.shape:
            raise ValueError("cache does not match the new key")
        keys, values = torch.cat([k_t, K], dim=2), torch.cat([v_t, V], dim=2)
    weights = torch.softmax(q_t @ keys.transpose(-2, -1) / math.sqrt(q_t.shape[-1]), dim=-1)
    return weights @ values, (keys, values)
