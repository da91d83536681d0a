# expect: full
# why: computing the scales in logarithms, exp(alpha log a - (1 - alpha) log w), is the same formula.
import torch


def smoothquant_scales(act_absmax, weight_absmax, alpha):
    if not (0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha={alpha} is outside [0, 1]")
    if act_absmax.ndim != 1 or bool((act_absmax < 0).any()):
        raise ValueError("act_absmax must be a 1-D tensor of non-negative values")
    if weight_absmax.shape != act_absmax.shape or bool((weight_absmax < 0).any()):
        raise ValueError("weight_absmax must be non-negative and shaped like act_absmax")
    log_a = act_absmax.clamp(min=1e-5).log()
    log_w = weight_absmax.to(act_absmax.dtype).clamp(min=1e-5).log()
    return torch.exp(alpha * log_a - (1 - alpha) * log_w)
