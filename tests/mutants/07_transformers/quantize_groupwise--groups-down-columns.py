# expect: lose
# why: groups consecutive output rows of a column instead of consecutive inputs of a row.
import torch


def quantize_groupwise(w, bits, group_size):
    if w.dim() != 2:
        raise ValueError("w must be 2-D")
    if not 1 <= bits <= 8:
        raise ValueError("bits must be in 1..8")
    if group_size < 1 or w.shape[1] % group_size:
        raise ValueError("group_size must divide in")
    out_f, in_f = w.shape
    g = w.T.reshape(-1, group_size)  # wrong: runs down the columns
    qmax = 2 ** bits - 1
    low, high = g.amin(-1).clamp(max=0), g.amax(-1).clamp(min=0)
    scales = torch.where(high > low, (high - low) / qmax, torch.ones_like(high))
    zeros = torch.round(-low / scales).clamp(0, qmax)
    codes = torch.clamp(torch.round(g / scales[:, None]) + zeros[:, None], 0, qmax)
    codes = codes.reshape(in_f, out_f).T.contiguous()
    n = in_f // group_size
    return codes.long(), scales[: out_f * n].reshape(out_f, n), zeros[: out_f * n].reshape(out_f, n).long()
