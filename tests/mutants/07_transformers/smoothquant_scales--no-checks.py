# expect: lose
# why: the formula is right but alpha outside [0, 1] and mismatched shapes are accepted silently.


def smoothquant_scales(act_absmax, weight_absmax, alpha):
    a, w = act_absmax.clamp(min=1e-5), weight_absmax.clamp(min=1e-5)
    return a.pow(alpha) / w.pow(1 - alpha)
