# expect: lose
# why: puts alpha on the weights and 1 - alpha on the activations.


def smoothquant_scales(act_absmax, weight_absmax, alpha):
    if not 0 <= alpha <= 1:
        raise ValueError("alpha must be in [0, 1]")
    if act_absmax.dim() != 1 or (act_absmax < 0).any():
        raise ValueError("act_absmax must be 1-D and non-negative")
    if weight_absmax.shape != act_absmax.shape or (weight_absmax < 0).any():
        raise ValueError("weight_absmax must match act_absmax")
    a, w = act_absmax.clamp(min=1e-5), weight_absmax.clamp(min=1e-5)
    return a.pow(1 - alpha) / w.pow(alpha)
