# expect: lose
# why: right numbers, but never checks q_t or the cache's shapes.
import math

import torch


def attend_with_cache(q_t, k_t, v_t, cache):
    keys = k_t if cache is None else torch.cat([cache[0], k_t], dim=2)
    values = v_t if cache is None else torch.cat([cache[1], v_t], dim=2)
    weights = torch.softmax(q_t @ keys.transpose(-2, -1) / math.sqrt(q_t.shape[-1]), dim=-1)
    return weights @ values, (keys, values)
