# expect: lose
# why: quantizes correctly but accepts bits = 0 or 9 and a group_size that does not divide the row.
import torch


def quantize_groupwise(w, bits, group_size):
    out_f, in_f = w.shape
    g = w.reshape(out_f, -1, group_size)
    qmax = 2 ** bits - 1
    low, high = g.amin(-1).clamp(max=0), g.amax(-1).clamp(min=0)
    scales = torch.where(high > low, (high - low) / qmax, torch.ones_like(high))
    zeros = torch.round(-low / scales).clamp(0, qmax)
    codes = torch.clamp(torch.round(g / scales[..., None]) + zeros[..., None], 0, qmax)
    return codes.reshape(out_f, in_f).long(), scales, zeros.long()
