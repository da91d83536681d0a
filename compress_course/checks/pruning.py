"""Visible checks of lesson 01 (pruning).

``magnitude_prune_mask``, ``global_prune_masks``, ``apply_masks``, ``channel_l2_importance``
and ``prune_conv_channels``. The small models built here (``two_scale_mlp``,
``mixed_layer_model``) are reused by the hidden checks.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from . import call, describe, expect, expect_value_error, visible_check

__all__ = ["check_magnitude_prune_mask", "check_global_prune_masks", "check_apply_masks",
           "check_channel_l2_importance", "check_prune_conv_channels", "two_scale_mlp",
           "mixed_layer_model", "zeroed_channels_pair"]


def two_scale_mlp(big: float = 100.0, small: float = 0.01, seed: int = 0) -> nn.Module:
    """``Linear(6, 8) -> ReLU -> Linear(8, 4)``: the first weight ~``big``, the second ~``small``.

    Weight names ``0.weight`` (48 entries) and ``2.weight`` (32 entries). Every entry of
    the second is smaller in magnitude than every entry of the first, so one global
    threshold at sparsity 32/80 prunes exactly the whole second weight.
    """
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 4))
    with torch.no_grad():
        model[0].weight.copy_(big * (1 + torch.rand(8, 6, generator=generator)))
        model[0].weight.mul_(torch.where(torch.rand(8, 6, generator=generator) < 0.5, -1.0, 1.0))
        model[2].weight.copy_(small * torch.randn(4, 8, generator=generator).clamp(-0.99, 0.99))
    return model


class _Mixed(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3),
                                      nn.ReLU(), nn.Conv2d(3, 2, 1, bias=False))
        self.norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 5)

    def forward(self, x):
        x = self.features(x).flatten(1)
        return self.head(self.norm(x))


def mixed_layer_model(seed: int = 0) -> nn.Module:
    """Convs, a Linear, and norm layers that also own a ``weight`` (which is never pruned).

    Prunable weights: ``features.0.weight`` (27), ``features.3.weight`` (6),
    ``head.weight`` (160); input ``[N, 1, 4, 4]``.
    """
    torch.manual_seed(seed)
    model = _Mixed()
    with torch.no_grad():
        model.features[1].weight.uniform_(0.5, 1.5)
        model.norm.weight.uniform_(1e-4, 1e-3)  # tiny: a wrong answer would prune these first
    return model


def _prunable_names(model: nn.Module) -> list[str]:
    return [f"{name}.weight" if name else "weight" for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Conv2d))]


def zeroed_channels_pair(conv: nn.Conv2d, next_conv: nn.Conv2d, kept: torch.Tensor):
    """Copies of ``conv`` and ``next_conv`` where every output channel of ``conv`` not in
    ``kept`` is switched off (its filter and its bias set to zero)."""
    conv, next_conv = copy.deepcopy(conv), copy.deepcopy(next_conv)
    removed = torch.ones(conv.out_channels, dtype=torch.bool)
    removed[kept] = False
    with torch.no_grad():
        conv.weight[removed] = 0
        if conv.bias is not None:
            conv.bias[removed] = 0
    return conv, next_conv


def _pruned_count(mask: torch.Tensor) -> int:
    return int((~mask).sum().item())


@visible_check
def check_magnitude_prune_mask(magnitude_prune_mask) -> int:
    w = torch.tensor([[0.5, -0.1, 0.3], [-0.7, 0.2, 0.0]])
    mask = call(magnitude_prune_mask, w, 0.5)
    expect(isinstance(mask, torch.Tensor) and mask.dtype == torch.bool,
           f"magnitude_prune_mask({describe(w)}, 0.5) returned {describe(mask)}; expected a "
           "torch.bool tensor (True = keep).")
    expect(mask.shape == w.shape,
           f"magnitude_prune_mask(w of shape (2, 3), 0.5) returned shape {tuple(mask.shape)}; "
           "expected the weight's shape (2, 3).")
    expected = torch.tensor([[True, False, True], [True, False, False]])
    expect(torch.equal(mask, expected),
           f"magnitude_prune_mask(w={w.tolist()}, sparsity=0.5) returned {mask.tolist()}; "
           f"expected {expected.tolist()}: prune the 3 smallest |w| (0.0, -0.1, 0.2), "
           "keep the rest (True = keep).")
    cases = 3
    for sparsity, expected_pruned in [(0.0, 0), (1.0, 6), (0.34, 2)]:
        got = _pruned_count(call(magnitude_prune_mask, w, sparsity))
        expect(got == expected_pruned,
               f"magnitude_prune_mask(w of shape (2, 3), sparsity={sparsity}) pruned {got} "
               f"entries; expected round({sparsity} * 6) = {expected_pruned}.")
        cases += 1
    ties = torch.ones(10)
    got = _pruned_count(call(magnitude_prune_mask, ties, 0.3))
    expect(got == 3,
           f"magnitude_prune_mask(torch.ones(10), sparsity=0.3) pruned {got} entries; expected "
           "exactly 3. With ties a threshold (`|w| <= t` or `|w| < t`) prunes all or none of "
           "the tied entries: choose exactly k entries instead (e.g. by sorting).")
    generator = torch.Generator().manual_seed(1)
    w = torch.randn(7, 11, generator=generator)
    mask = call(magnitude_prune_mask, w, 0.37)
    got = _pruned_count(mask)
    expect(got == 28,
           f"magnitude_prune_mask(w of shape (7, 11), sparsity=0.37) pruned {got} entries; "
           "expected round(0.37 * 77) = 28.")
    expect(w.abs()[~mask].max() <= w.abs()[mask].min(),
           "magnitude_prune_mask(w of shape (7, 11), sparsity=0.37) pruned a weight larger in "
           "magnitude than one it kept: prune the smallest |w|, whatever their sign.")
    for bad in (-0.1, 1.5):
        expect_value_error(magnitude_prune_mask, w, bad, argument="sparsity")
    return cases + 4


@visible_check
def check_global_prune_masks(global_prune_masks) -> int:
    model = two_scale_mlp()
    masks = call(global_prune_masks, model, 32 / 80)
    expect(isinstance(masks, dict) and set(masks) == {"0.weight", "2.weight"},
           f"global_prune_masks(Sequential(Linear(6, 8), ReLU(), Linear(8, 4)), 0.4) returned "
           f"keys {sorted(masks) if isinstance(masks, dict) else describe(masks)}; expected "
           "['0.weight', '2.weight'] (the parameter names of the Linear/Conv2d weights).")
    for name, shape in (("0.weight", (8, 6)), ("2.weight", (4, 8))):
        expect(masks[name].dtype == torch.bool and tuple(masks[name].shape) == shape,
               f"global_prune_masks(...)[{name!r}] is {describe(masks[name])}; expected a bool "
               f"tensor of shape {shape}.")
    pruned = {name: _pruned_count(mask) for name, mask in masks.items()}
    expect(pruned == {"0.weight": 0, "2.weight": 32},
           f"global_prune_masks(model whose first weight is ~100 and second ~0.01, "
           f"sparsity=0.4) pruned {pruned}; expected {{'0.weight': 0, '2.weight': 32}}: ONE "
           "threshold over all layers prunes every small-scale weight first (pruning 40% of "
           "each layer is the layer-wise method).")
    mixed = mixed_layer_model()
    masks = call(global_prune_masks, mixed, 0.5)
    expected_keys = _prunable_names(mixed)
    expect(isinstance(masks, dict) and sorted(masks) == sorted(expected_keys),
           f"global_prune_masks(model with Conv2d, BatchNorm2d, LayerNorm, Linear) returned keys "
           f"{sorted(masks) if isinstance(masks, dict) else describe(masks)}; expected "
           f"{sorted(expected_keys)}: only nn.Linear and nn.Conv2d weights are pruned, never "
           "norm layers' weights or biases.")
    total = sum(m.numel() for m in masks.values())
    got = sum(_pruned_count(m) for m in masks.values())
    expect(got == round(0.5 * total),
           f"global_prune_masks(model with {total} prunable weights, sparsity=0.5) pruned {got}; "
           f"expected round(0.5 * {total}) = {round(0.5 * total)}.")
    expect_value_error(global_prune_masks, mixed, 1.01, argument="sparsity")
    return 5


@visible_check
def check_apply_masks(apply_masks) -> int:
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
    before = copy.deepcopy(model)
    held = list(model.parameters())
    masks = {"0.weight": torch.tensor([[True, False, True], [False, True, True]])}
    result = call(apply_masks, model, masks, modifies=(0,))
    expect(all(any(p is q for q in model.parameters()) for p in held),
           "after apply_masks the model no longer holds its original parameter objects: change "
           "the existing parameter in place (e.g. `param.mul_(mask)` under torch.no_grad()); a "
           "new nn.Parameter is invisible to an optimizer created before.")
    expect(result is None,
           f"apply_masks(model, masks) returned {describe(result)}; expected None (it changes "
           "the model in place).")
    w, w0 = model[0].weight.detach(), before[0].weight.detach()
    expected = torch.where(masks["0.weight"], w0, torch.zeros_like(w0))
    expect(torch.equal(w, expected),
           f"after apply_masks, layer 0's weight is {w.tolist()}; expected {expected.tolist()} "
           "(zero where the mask is False, unchanged where it is True).")
    for name in ("0.bias", "2.weight", "2.bias"):
        expect(torch.equal(model.get_parameter(name), before.get_parameter(name)),
               f"apply_masks changed {name!r}, which has no mask: only masked weights change.")
    # Training with the masks re-applied after every step, as training.train(step_hook=...) does.
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 3), torch.randint(0, 2, (16,))
    for _ in range(3):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        apply_masks(model, masks)
    model(x)
    w = model[0].weight.detach()
    expect(bool((w[~masks["0.weight"]] == 0).all()),
           f"after 3 Adam steps, each followed by apply_masks, pruned weights are "
           f"{w[~masks['0.weight']].tolist()}; expected zeros.")
    expect(not torch.equal(w[masks["0.weight"]], w0[masks["0.weight"]]),
           "after 3 Adam steps with lr=0.1 the kept weights did not change: apply_masks must "
           "change the existing parameter in place (e.g. `param.mul_(mask)` under "
           "torch.no_grad()), not replace it, or the optimizer trains a parameter the model no "
           "longer uses.")
    return 5


@visible_check
def check_channel_l2_importance(channel_l2_importance) -> int:
    w = torch.zeros(3, 2, 2, 2)
    w[0, 0, 0, 0], w[0, 1, 1, 1] = 3.0, -4.0  # norm 5
    w[1] = -1.0  # 8 entries: norm sqrt(8)
    got = call(channel_l2_importance, w)
    expected = torch.tensor([5.0, 8 ** 0.5, 0.0])
    expect(isinstance(got, torch.Tensor) and got.shape == (3,),
           f"channel_l2_importance(weight of shape (3, 2, 2, 2)) returned {describe(got)}; "
           "expected a tensor of shape (3,): one number per output channel.")
    expect(torch.allclose(got.float(), expected),
           f"channel_l2_importance(weight of shape (3, 2, 2, 2)) returned {got.tolist()}; "
           f"expected {[round(v, 4) for v in expected.tolist()]}: the square root of the sum "
           "of squares of each output filter (all of dim 1, 2, 3).")
    w = torch.randn(5, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    got = call(channel_l2_importance, w)
    expected = w.flatten(1).norm(dim=1)
    expect(torch.allclose(got, expected),
           f"channel_l2_importance(random weight of shape (5, 3, 3, 3)) returned "
           f"{[round(v, 4) for v in got.tolist()]}; expected "
           f"{[round(v, 4) for v in expected.tolist()]}.")
    return 2


@visible_check
def check_prune_conv_channels(prune_conv_channels) -> int:
    torch.manual_seed(0)
    conv, next_conv = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 3, 3, padding=1)
    with torch.no_grad():
        for channel, norm in enumerate([3.0, 1.0, 4.0, 2.0]):
            conv.weight[channel] *= norm / conv.weight[channel].norm()
    result = call(prune_conv_channels, conv, next_conv, 2)
    expect(isinstance(result, tuple) and len(result) == 2 and
           all(isinstance(m, nn.Conv2d) for m in result),
           f"prune_conv_channels(conv, next_conv, keep=2) returned {describe(result)}; "
           "expected a tuple of two new nn.Conv2d.")
    new_conv, new_next = result
    expect(new_conv is not conv and new_next is not next_conv,
           "prune_conv_channels returned one of the original layers; build new ones.")
    expect(new_conv.out_channels == 2 and tuple(new_conv.weight.shape) == (2, 2, 3, 3),
           f"the pruned conv is {new_conv!r} with weight {tuple(new_conv.weight.shape)}; "
           "expected Conv2d(2, 2, ...) with weight (2, 2, 3, 3).")
    expect(new_next.in_channels == 2 and tuple(new_next.weight.shape) == (3, 2, 3, 3),
           f"the pruned next conv is {new_next!r} with weight {tuple(new_next.weight.shape)}; "
           "expected Conv2d(2, 3, ...) with weight (3, 2, 3, 3).")
    kept = torch.tensor([0, 2])  # filter norms 3, 1, 4, 2: the two largest, in original order
    expect(torch.equal(new_conv.weight, conv.weight[kept]),
           "the pruned conv's filters are not conv.weight[[0, 2]]: with filter norms "
           "[3, 1, 4, 2] and keep=2, channels 0 and 2 stay, in their original order.")
    expect(new_conv.bias is not None and torch.equal(new_conv.bias, conv.bias[kept]),
           "the pruned conv's bias is not conv.bias[[0, 2]]: carry the kept channels' biases.")
    expect(torch.equal(new_next.weight, next_conv.weight[:, kept]) and
           torch.equal(new_next.bias, next_conv.bias),
           "the pruned next conv should keep input channels [0, 2] (next_conv.weight[:, [0, 2]]) "
           "and its whole bias.")
    x = torch.randn(2, 2, 6, 6)
    ref_conv, ref_next = zeroed_channels_pair(conv, next_conv, kept)
    with torch.no_grad():
        expected = ref_next(torch.relu(ref_conv(x)))
        got = new_next(torch.relu(new_conv(x)))
    expect(torch.allclose(got, expected, atol=1e-5),
           "the pruned pair does not compute what the original pair computes with channels "
           "1 and 3 switched off (max difference "
           f"{(got - expected).abs().max().item():.3g}).")
    for bad in (0, 5):
        expect_value_error(prune_conv_channels, conv, next_conv, bad, argument="keep")
    return 8
