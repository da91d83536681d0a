# expect: lose
# why: forgets to clamp the maxima, so an all-zero channel gives a scale of 0 or infinity.


def smoothquant_scales(act_absmax, weight_absmax, alpha):
    if not 0 <= alpha <= 1:
        raise ValueError("alpha must be in [0, 1]")
    if act_absmax.dim() != 1 or (act_absmax < 0).any():
        raise ValueError("act_absmax must be 1-D and non-negative")
    if weight_absmax.shape != act_absmax.shape or (weight_absmax < 0).any():
        raise ValueError("weight_absmax must match act_absmax")
    return act_absmax.pow(alpha) / weight_absmax.pow(1 - alpha)
