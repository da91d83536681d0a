# expect: lose
# why: truncates the zero point and the codes (floor) instead of rounding to nearest.
import torch


def quantize_groupwise(w, bits, group_size):
    if w.dim() != 2:
        raise ValueError("w must be 2-D")
    if not 1 <= bits <= 8:
        raise ValueError("bits must be in 1..8")
    if group_size < 1 or w.shape[1] % group_size:
        raise ValueError("group_size must divide in")
    out_f, in_f = w.shape
    g = w.reshape(out_f, -1, group_size)
    qmax = 2 ** bits - 1
    low, high = g.amin(-1).clamp(max=0), g.amax(-1).clamp(min=0)
    scales = torch.where(high > low, (high - low) / qmax, torch.ones_like(high))
    zeros = torch.floor(-low / scales).clamp(0, qmax)
    codes = torch.clamp(torch.floor(g / scales[..., None]) + zeros[..., None], 0, qmax)
    return codes.reshape(out_f, in_f).long(), scales, zeros.long()
