"""Visible checks of lesson 01 (pruning).

``magnitude_prune_mask``, ``global_prune_masks``, ``apply_masks``, ``channel_l2_importance``,
``prune_conv_channels`` and ``nm_prune_mask``. The small models built here (``two_scale_mlp``,
``mixed_layer_model``) are reused by the hidden checks. Each check is split into the named
parts (``part``) that the hidden checks of ``tests/exercises/test_01_pruning.py`` grade.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ..i18n import _
from . import call, describe, expect, expect_value_error, part, visible_check

__all__ = ["check_magnitude_prune_mask", "check_global_prune_masks", "check_apply_masks",
           "check_channel_l2_importance", "check_prune_conv_channels", "check_nm_prune_mask",
           "two_scale_mlp",
           "mixed_layer_model", "zeroed_channels_pair", "apply_masks_sparsity_cases",
           "apply_masks_sparsity_error", "apply_masks_bad_cases"]


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



def _expect_bool_mask(mask, shape, what: str) -> None:
    expect(isinstance(mask, torch.Tensor) and mask.dtype == torch.bool,
           _("{what} returned {mask}; expected a torch.bool tensor (True = keep).").format(
             what=what, mask=describe(mask)))
    expect(tuple(mask.shape) == tuple(shape),
           _("{what} returned shape {mask_shape}; expected the weight's shape {shape}.").format(
             what=what, mask_shape=tuple(mask.shape), shape=tuple(shape)))


def _expect_magnitude_order(values: torch.Tensor, mask: torch.Tensor, what: str) -> None:
    values, mask = values.flatten(), mask.flatten()
    if mask.all() or not mask.any():
        return
    expect(values.abs()[~mask].max() <= values.abs()[mask].min(),
           _("{what} pruned a weight larger in magnitude than one it kept: prune the smallest "
             "|w|, whatever their sign.").format(what=what))


@visible_check
def check_magnitude_prune_mask(magnitude_prune_mask) -> int:
    cases = 0
    with part("main property"):
        w = nn.Parameter(torch.tensor([[0.5, -0.1, 0.3], [-0.7, 0.2, 0.0]]))
        mask = call(magnitude_prune_mask, w, 0.5)
        _expect_bool_mask(mask, w.shape, _("magnitude_prune_mask(Parameter of shape (2, 3), "
                                           "0.5)"))
        expected = torch.tensor([[True, False, True], [True, False, False]])
        expect(torch.equal(mask, expected),
               _("magnitude_prune_mask(w={w}, sparsity=0.5) returned {mask}; expected "
                 "{expected}: prune the 3 smallest |w| (0.0, -0.1, 0.2), keep the rest (True = "
                 "keep).").format(w=w.tolist(), mask=mask.tolist(), expected=expected.tolist()))
        got = _pruned_count(call(magnitude_prune_mask, w, 0.34))
        expect(got == 2,
               _("magnitude_prune_mask(w of shape (2, 3), sparsity=0.34) pruned {got} entries; "
                 "expected round(0.34 * 6) = 2.").format(got=got))
        ties = torch.ones(10)
        got = _pruned_count(call(magnitude_prune_mask, ties, 0.3))
        expect(got == 3,
               _("magnitude_prune_mask(torch.ones(10), sparsity=0.3) pruned {got} entries; "
                 "expected exactly 3. With ties a threshold (`|w| <= t` or `|w| < t`) prunes "
                 "all or none of the tied entries: choose exactly k entries instead (e.g. by "
                 "sorting).").format(got=got))
        generator = torch.Generator().manual_seed(1)
        w = torch.randn(7, 11, generator=generator)
        mask = call(magnitude_prune_mask, w, 0.37)
        got = _pruned_count(mask)
        expect(got == 28,
               _("magnitude_prune_mask(w of shape (7, 11), sparsity=0.37) pruned {got} "
                 "entries; expected round(0.37 * 77) = 28.").format(got=got))
        _expect_magnitude_order(w, mask, _("magnitude_prune_mask(w of shape (7, 11), "
                                           "sparsity=0.37)"))
        # float64, 4-D, few distinct values of both signs: many ties in magnitude
        w = torch.randint(-3, 4, (2, 3, 2, 2), generator=generator).double() * 0.5
        what = _("magnitude_prune_mask(float64 w of shape (2, 3, 2, 2) with ties, sparsity=0.6)")
        mask = call(magnitude_prune_mask, w, 0.6)
        _expect_bool_mask(mask, w.shape, what)
        got = _pruned_count(mask)
        expect(got == 14, _("{what} pruned {got} entries; expected round(0.6 * 24) = 14.").format(
                            what=what, got=got))
        _expect_magnitude_order(w, mask, what)
        cases += 5
    with part("edge cases"):
        for value in (0.0, -2.5):
            w = torch.full((3, 4), value)
            for sparsity, expected_pruned in ((0.0, 0), (1.0, 12), (0.5, 6)):
                got = _pruned_count(call(magnitude_prune_mask, w, sparsity))
                expect(got == expected_pruned,
                       _("magnitude_prune_mask(torch.full((3, 4), {value}), "
                         "sparsity={sparsity}) pruned {got} entries; expected "
                         "{expected_pruned} (sparsity 0 keeps everything, 1 prunes everything, "
                         "and the count is exact even when every magnitude ties).").format(
                         value=value, sparsity=sparsity, got=got, expected_pruned=expected_pruned))
                cases += 1
    with part("errors"):
        for bad in (-0.1, 1.5):
            expect_value_error(magnitude_prune_mask, torch.randn(3, 3), bad, argument="sparsity")
            cases += 1
    return cases


@visible_check
def check_global_prune_masks(global_prune_masks) -> int:
    cases = 0
    with part("main property"):
        model = two_scale_mlp()
        masks = call(global_prune_masks, model, 32 / 80)
        expect(isinstance(masks, dict) and set(masks) == {"0.weight", "2.weight"},
               _("global_prune_masks(Sequential(Linear(6, 8), ReLU(), Linear(8, 4)), 0.4) "
                 "returned keys {keys}; expected ['0.weight', '2.weight'] (the parameter "
                 "names of the Linear/Conv2d weights).").format(
                 keys=sorted(masks) if isinstance(masks, dict) else describe(masks)))
        for name, shape in (("0.weight", (8, 6)), ("2.weight", (4, 8))):
            _expect_bool_mask(masks[name], shape, f"global_prune_masks(...)[{name!r}]")
        pruned = {name: _pruned_count(mask) for name, mask in masks.items()}
        expect(pruned == {"0.weight": 0, "2.weight": 32},
               _("global_prune_masks(model whose first weight is ~100 and second ~0.01, "
                 "sparsity=0.4) pruned {pruned}; expected {{'0.weight': 0, '2.weight': 32}}: "
                 "ONE threshold over all layers prunes every small-scale weight first (pruning "
                 "40% of each layer is the layer-wise method).").format(pruned=pruned))
        mixed = mixed_layer_model()
        masks = call(global_prune_masks, mixed, 0.37)
        names = [n for n in _prunable_names(mixed) if isinstance(masks, dict) and n in masks]
        values = torch.cat([mixed.get_parameter(n).detach().flatten() for n in names])
        flat_mask = torch.cat([masks[n].flatten() for n in names])
        _expect_magnitude_order(values, flat_mask,
                                _("global_prune_masks(model with convs and a Linear, 0.37), "
                                  "across layers,"))
        cases += 3
    with part("only Linear and Conv2d weights"):
        mixed = mixed_layer_model()
        masks = call(global_prune_masks, mixed, 0.5)
        expected_keys = _prunable_names(mixed)
        expect(isinstance(masks, dict) and sorted(masks) == sorted(expected_keys),
               _("global_prune_masks(model with Conv2d, BatchNorm2d, LayerNorm, Linear) "
                 "returned keys {keys}; expected {expected_keys}: only nn.Linear and "
                 "nn.Conv2d weights are pruned, never norm layers' weights or biases.").format(
                 keys=sorted(masks) if isinstance(masks, dict) else describe(masks),
                 expected_keys=sorted(expected_keys)))
        total = sum(m.numel() for m in masks.values())
        got = sum(_pruned_count(m) for m in masks.values())
        expect(got == round(0.5 * total),
               _("global_prune_masks(model with {total} prunable weights, sparsity=0.5) pruned "
                 "{got}; expected round(0.5 * {total}) = {expected}.").format(
                 total=total, got=got, expected=round(0.5 * total)))
        cases += 2
    with part("edge cases"):
        mixed = mixed_layer_model()
        for sparsity in (0.0, 1.0):
            masks = call(global_prune_masks, mixed, sparsity)
            kept = sum(int(m.sum()) for m in masks.values())
            total = sum(m.numel() for m in masks.values())
            expected = total if sparsity == 0 else 0
            expect(kept == expected,
                   _("global_prune_masks(model with {total} prunable weights, "
                     "sparsity={sparsity}) kept {kept}; expected {expected} (sparsity 0 keeps "
                     "every weight, sparsity 1 prunes every weight).").format(
                     total=total, sparsity=sparsity, kept=kept, expected=expected))
            cases += 1
    with part("errors"):
        for bad in (-0.01, 1.01):
            expect_value_error(global_prune_masks, mixed_layer_model(), bad, argument="sparsity")
            cases += 1
    return cases


@visible_check
def check_apply_masks(apply_masks) -> int:
    cases = 0
    with part("main property"):
        model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
        before = copy.deepcopy(model)
        held = list(model.parameters())
        masks = {"0.weight": torch.tensor([[True, False, True], [False, True, True]])}
        call(apply_masks, model, masks, modifies=(0,))
        expect(all(any(p is q for q in model.parameters()) for p in held),
               _("after apply_masks the model no longer holds its original parameter objects: "
                 "change the existing parameter in place (e.g. `param.mul_(mask)` under "
                 "torch.no_grad()); a new nn.Parameter is invisible to an optimizer created "
                 "before."))
        w, w0 = model[0].weight.detach(), before[0].weight.detach()
        expected = torch.where(masks["0.weight"], w0, torch.zeros_like(w0))
        expect(torch.equal(w, expected),
               _("after apply_masks, layer 0's weight is {w}; expected {expected} (zero where "
                 "the mask is False, unchanged where it is True).").format(
                 w=w.tolist(), expected=expected.tolist()))
        for name in ("0.bias", "2.weight", "2.bias"):
            expect(torch.equal(model.get_parameter(name), before.get_parameter(name)),
                   _("apply_masks changed {name!r}, which has no mask: only masked weights "
                     "change.").format(name=name))
        cases += 3
    with part("stays zero through training"):
        # An optimizer created BEFORE the masks are applied, then steps each followed by
        # apply_masks, as training.train(step_hook=...) does; a conv weight's mask is 4-D.
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                              nn.Linear(2 * 4 * 4, 2))
        masks = {"0.weight": torch.rand(2, 1, 3, 3) < 0.5, "3.weight": torch.rand(2, 32) < 0.5}
        kept_before = {name: model.get_parameter(name).detach()[mask].clone()
                       for name, mask in masks.items()}
        x, y = torch.randn(16, 1, 4, 4), torch.randint(0, 2, (16,))
        for optimizer in (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9),
                          torch.optim.Adam(model.parameters(), lr=0.1)):
            call(apply_masks, model, masks, modifies=(0,))
            for _step in range(3):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
                call(apply_masks, model, masks, modifies=(0,))
            model(x)
            label = type(optimizer).__name__
            for name, mask in masks.items():
                w = model.get_parameter(name).detach()
                expect(bool((w[~mask] == 0).all()),
                       _("after 3 {label} steps, each followed by apply_masks, {name!r} has "
                         "{nonzero} non-zero pruned entries; expected zeros.").format(
                         label=label, name=name, nonzero=int((w[~mask] != 0).sum())))
                expect(not torch.equal(w[mask], kept_before[name]),
                       _("an optimizer ({label}) created before apply_masks took 3 steps with "
                         "lr=0.1, yet the kept entries of {name!r} did not change: apply_masks "
                         "must change the existing parameter in place (e.g. `param.mul_(mask)` "
                         "under torch.no_grad()), not replace it, or the optimizer trains a "
                         "parameter the model no longer uses.").format(label=label, name=name))
            cases += 1
    with part("returned sparsity"):
        for model, masks, expected in apply_masks_sparsity_cases():
            problem = apply_masks_sparsity_error(apply_masks, model, masks, expected)
            expect(problem is None, problem or "")
            cases += 1
    with part("errors"):
        for model, masks in apply_masks_bad_cases():
            expect_value_error(apply_masks, model, masks, argument="masks")
            cases += 1
    return cases


def apply_masks_sparsity_cases() -> list[tuple[nn.Module, dict, dict[str, float]]]:
    """``(model, masks, {name: expected sparsity})``: a Linear weight with a zero where its
    mask keeps it (counted too), an all-True mask on a conv weight, a bias mask."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]]))
    masks = {"0.weight": torch.tensor([[True, True, False], [False, True, True]]),
             "2.bias": torch.tensor([False, True])}
    bias = model[2].bias.detach()
    cases = [(model, masks, {"0.weight": 3 / 6, "2.bias": (1 + int(bias[1] == 0)) / 2})]
    conv = nn.Sequential(nn.Conv2d(2, 3, 3))
    conv_mask = {"0.weight": torch.ones(3, 2, 3, 3, dtype=torch.bool)}
    cases.append((conv, conv_mask, {"0.weight": float((conv[0].weight == 0).float().mean())}))
    return cases


def apply_masks_sparsity_error(apply_masks, model, masks, expected) -> str | None:
    """None if ``apply_masks(model, masks)`` returns ``expected`` (floats, within 1e-6)."""
    result = call(apply_masks, model, masks, modifies=(0,))
    shapes = {name: tuple(mask.shape) for name, mask in masks.items()}
    if not isinstance(result, dict) or sorted(result) != sorted(expected):
        return _("apply_masks(model, masks for {shapes}) returned {result}; expected a dict "
                 "{{name: sparsity}} with exactly the names of masks, {names}.").format(
                 shapes=shapes, result=describe(result), names=sorted(expected))
    for name, value in expected.items():
        got = result[name]
        if not isinstance(got, float) or abs(got - value) > 1e-6:
            return _("apply_masks(model, masks for {shapes}) returned {got} for {name!r}; "
                     "expected the float {value:.6g}, the fraction of that parameter's entries "
                     "that are zero after the call (zeros it already held where its mask keeps "
                     "it count too).").format(shapes=shapes, got=describe(got), name=name,
                                              value=value)
    return None


def apply_masks_bad_cases() -> list[tuple[nn.Module, dict]]:
    """``(model, masks)`` that ``apply_masks`` must refuse with a ValueError naming ``masks``:
    names that are not parameters, masks of another shape, masks that are not bool."""
    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 2))

    keep = torch.rand(3, 4) < 0.5
    return [
        (model(), {"5.weight": keep}),                            # no such layer
        (model(), {"1.running_mean": torch.ones(3, dtype=torch.bool)}),  # a buffer
        (model(), {"0.weight": keep.T.contiguous()}),               # transposed shape
        (model(), {"0.weight": keep[:1]}),                          # (1, 4) would broadcast
        (model(), {"0.weight": keep.float()}),                      # float 0/1
        (model(), {"0.weight": keep.to(torch.uint8)}),              # integer 0/1
    ]


@visible_check
def check_channel_l2_importance(channel_l2_importance) -> int:
    cases = 0
    with part("main property"):
        w = torch.zeros(3, 2, 2, 2)
        w[0, 0, 0, 0], w[0, 1, 1, 1] = 3.0, -4.0  # norm 5
        w[1] = -1.0  # 8 entries: norm sqrt(8)
        got = call(channel_l2_importance, w)
        expected = torch.tensor([5.0, 8 ** 0.5, 0.0])
        expect(isinstance(got, torch.Tensor) and got.shape == (3,),
               _("channel_l2_importance(weight of shape (3, 2, 2, 2)) returned {got}; expected "
                 "a tensor of shape (3,): one number per output channel.").format(
                 got=describe(got)))
        expect(torch.allclose(got.detach().float(), expected),
               _("channel_l2_importance(weight of shape (3, 2, 2, 2)) returned {got}; expected "
                 "{expected}: the square root of the sum of squares of each output filter (all of "
                 "dim 1, 2, 3), not L1, not squared.").format(
                 got=got.tolist(), expected=[round(v, 4) for v in expected.tolist()]))
        conv = nn.Conv2d(3, 5, 3, dtype=torch.float64)
        got = call(channel_l2_importance, conv.weight)
        expected = conv.weight.detach().flatten(1).norm(dim=1)
        expect(isinstance(got, torch.Tensor) and got.shape == (5,) and
               torch.allclose(got.detach().double(), expected),
               _("channel_l2_importance(conv.weight, a float64 Parameter of shape (5, 3, 3, "
                 "3)) returned {got}; expected {expected}.").format(
                 got=describe(got), expected=[round(v, 4) for v in expected.tolist()]))
        cases += 2
    with part("L1 norm"):
        w = torch.zeros(3, 2, 2, 2)
        w[0, 0, 0, 0], w[0, 1, 1, 1] = 3.0, -4.0  # L1 7
        w[1] = -1.0  # 8 entries: L1 8
        got = call(channel_l2_importance, w, norm=1)
        expected = torch.tensor([7.0, 8.0, 0.0])
        expect(isinstance(got, torch.Tensor) and got.shape == (3,) and
               torch.allclose(got.detach().float(), expected),
               _("channel_l2_importance(weight of shape (3, 2, 2, 2), norm=1) returned {got}; "
                 "expected {expected}: the sum of absolute values of each output filter (a "
                 "negative weight adds its magnitude).").format(
                 got=describe(got), expected=expected.tolist()))
        conv = nn.Conv2d(3, 5, 3, dtype=torch.float64)
        got = call(channel_l2_importance, conv.weight, norm=1)
        expected = conv.weight.detach().abs().sum(dim=(1, 2, 3))
        expect(isinstance(got, torch.Tensor) and got.shape == (5,) and
               torch.allclose(got.detach().double(), expected),
               _("channel_l2_importance(conv.weight, a float64 Parameter of shape (5, 3, 3, "
                 "3), norm=1) returned {got}; expected {expected}.").format(
                 got=describe(got), expected=[round(v, 4) for v in expected.tolist()]))
        cases += 2
    with part("errors"):
        for bad in (0, 3, 1.5):
            expect_value_error(channel_l2_importance, torch.randn(2, 1, 1, 1), norm=bad, argument="norm")
            cases += 1
    return cases


def _expect_same_settings(new: nn.Conv2d, old: nn.Conv2d, label: str) -> None:
    settings_new = (new.kernel_size, new.stride, new.padding, new.dilation)
    settings_old = (old.kernel_size, old.stride, old.padding, old.dilation)
    expect(settings_new == settings_old,
           _("the new {label} has kernel/stride/padding/dilation {settings_new}; expected "
             "those of the original, {settings_old}.").format(
             label=label, settings_new=settings_new, settings_old=settings_old))
    expect((new.bias is None) == (old.bias is None),
           (_("the new {label} lost a bias.") if new.bias is None else
            _("the new {label} gained a bias.")).format(label=label))
    expect(new.weight.dtype == old.weight.dtype,
           _("the new {label}'s weight is {new_weight_dtype}; expected {old_weight_dtype} "
             "(keep the original dtype).").format(
             label=label, new_weight_dtype=new.weight.dtype, old_weight_dtype=old.weight.dtype))


@visible_check
def check_prune_conv_channels(prune_conv_channels) -> int:
    torch.manual_seed(0)
    conv, next_conv = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 3, 3, padding=1)
    with torch.no_grad():
        for channel, norm in enumerate([3.0, 1.0, 4.0, 2.0]):
            conv.weight[channel] *= norm / conv.weight[channel].norm()
    cases = 0
    with part("main property"):
        result = call(prune_conv_channels, conv, next_conv, 2)
        expect(isinstance(result, tuple) and len(result) == 2 and
               all(isinstance(m, nn.Conv2d) for m in result),
               _("prune_conv_channels(conv, next_conv, keep=2) returned {result}; expected a "
                 "tuple of two new nn.Conv2d.").format(result=describe(result)))
        new_conv, new_next = result
        expect(new_conv is not conv and new_next is not next_conv,
               _("prune_conv_channels returned one of the original layers; build new ones."))
        expect(new_conv.out_channels == 2 and tuple(new_conv.weight.shape) == (2, 2, 3, 3),
               _("the pruned conv is {new_conv!r} with weight {new_conv_weight_shape}; "
                 "expected Conv2d(2, 2, ...) with weight (2, 2, 3, 3).").format(
                 new_conv=new_conv, new_conv_weight_shape=tuple(new_conv.weight.shape)))
        expect(new_next.in_channels == 2 and tuple(new_next.weight.shape) == (3, 2, 3, 3),
               _("the pruned next conv is {new_next!r} with weight {new_next_weight_shape}; "
                 "expected Conv2d(2, 3, ...) with weight (3, 2, 3, 3).").format(
                 new_next=new_next, new_next_weight_shape=tuple(new_next.weight.shape)))
        kept = torch.tensor([0, 2])  # filter norms 3, 1, 4, 2: the two largest, in original order
        expect(torch.equal(new_conv.weight, conv.weight[kept]),
               _("the pruned conv's filters are not conv.weight[[0, 2]]: with filter norms [3, "
                 "1, 4, 2] and keep=2, channels 0 and 2 stay, in their original order."))
        expect(new_conv.bias is not None and torch.equal(new_conv.bias, conv.bias[kept]),
               _("the pruned conv's bias is not conv.bias[[0, 2]]: carry the kept channels' "
                 "biases."))
        expect(torch.equal(new_next.weight, next_conv.weight[:, kept]) and
               torch.equal(new_next.bias, next_conv.bias),
               _("the pruned next conv should keep input channels [0, 2] (next_conv.weight[:, "
                 "[0, 2]]) and its whole bias."))
        x = torch.randn(2, 2, 6, 6)
        ref_conv, ref_next = zeroed_channels_pair(conv, next_conv, kept)
        with torch.no_grad():
            expected = ref_next(torch.relu(ref_conv(x)))
            got = new_next(torch.relu(new_conv(x)))
        expect(torch.allclose(got, expected, atol=1e-5),
               _("the pruned pair does not compute what the original pair computes with "
                 "channels 1 and 3 switched off (max difference {difference:.3g}).").format(
                 difference=(got - expected).abs().max().item()))
        expect(all(q.requires_grad for q in (*new_conv.parameters(), *new_next.parameters())),
               _("the new layers' parameters must be trainable (requires_grad=True)."))
        originals = [q.detach().clone() for q in (*conv.parameters(), *next_conv.parameters())]
        with torch.no_grad():
            for q in (*new_conv.parameters(), *new_next.parameters()):
                q.add_(1.0)
        expect(all(torch.equal(a, b.detach()) for a, b in zip(
            originals, (*conv.parameters(), *next_conv.parameters()), strict=True)),
            _("changing the new layers' weights changed the original layers: copy the kept "
              "slices into the new layers' own parameters instead of sharing memory."))
        # float64, stride 2, no bias on the first conv, no padding, a 1x1 next conv
        torch.manual_seed(1)
        conv64 = nn.Conv2d(3, 5, 3, stride=2, bias=False, dtype=torch.float64)
        next64 = nn.Conv2d(5, 2, 1, dtype=torch.float64)
        what = f"prune_conv_channels({conv64!r}, {next64!r}, keep=3)"
        new_conv, new_next = call(prune_conv_channels, conv64, next64, 3)
        for new, old, label in ((new_conv, conv64, "conv"), (new_next, next64, "next_conv")):
            _expect_same_settings(new, old, _("{label} of {what}").format(label=label, what=what))
        kept = conv64.weight.detach().flatten(1).norm(dim=1).topk(3).indices.sort().values
        x = torch.randn(2, 3, 7, 7, dtype=torch.float64)
        ref_conv, ref_next = zeroed_channels_pair(conv64, next64, kept)
        with torch.no_grad():
            expected = ref_next(torch.relu(ref_conv(x)))
            got = new_next(torch.relu(new_conv(x)))
        expect(got.shape == expected.shape and torch.allclose(got, expected, atol=1e-10),
               _("{what}: the pruned pair does not compute what the original pair computes "
                 "with channels {channels} switched off.").format(
                 what=what, channels=sorted(set(range(5)) - set(kept.tolist()))))
        cases += 4
    with part("edge cases"):
        new_conv, new_next = call(prune_conv_channels, conv, next_conv, 4)
        expect(torch.equal(new_conv.weight, conv.weight) and
               torch.equal(new_next.weight, next_conv.weight),
               _("prune_conv_channels(conv with 4 channels, next_conv, keep=4) must return "
                 "copies of the original layers with the channels in their original order, not "
                 "sorted by importance."))
        new_conv, new_next = call(prune_conv_channels, conv, next_conv, 1)
        expect(torch.equal(new_conv.weight, conv.weight[[2]]),
               _("prune_conv_channels(conv, next_conv, keep=1) with filter norms [3, 1, 4, 2] "
                 "must keep only channel 2."))
        cases += 2
    with part("errors"):
        for bad in (0, 5):
            expect_value_error(prune_conv_channels, conv, next_conv, bad, argument="keep")
            cases += 1
    return cases


def _expect_nm_groups(weight: torch.Tensor, mask: torch.Tensor, n: int, m: int, what: str) -> None:
    """Each group of ``m`` consecutive entries of a row of ``weight.flatten(1)`` (the last one
    possibly shorter) keeps exactly ``min(n, its size)`` entries, its largest magnitudes."""
    rows, keep = weight.detach().abs().flatten(1), mask.flatten(1)
    for row in range(rows.shape[0]):
        for start in range(0, rows.shape[1], m):
            values, kept = rows[row, start:start + m], keep[row, start:start + m]
            expected = min(n, values.numel())
            expect(int(kept.sum()) == expected,
                   _("{what}: row {row} of weight.flatten(1), entries {start}-{end} (a group "
                     "of {size}), keeps {kept}; expected min(n, group size) = "
                     "{expected}.").format(
                     what=what, row=row, start=start, end=start + values.numel() - 1,
                     size=values.numel(), kept=int(kept.sum()), expected=expected))
            if 0 < expected < values.numel():
                expect(values[~kept].max() <= values[kept].min(),
                       _("{what}: row {row}, entries {start}-{end}: kept |w| {kept_values} but "
                         "pruned a larger one among {pruned_values}; keep the n largest magnitudes "
                         "of each group.").format(
                         what=what, row=row, start=start, end=start + values.numel() - 1,
                         kept_values=values[kept].tolist(), pruned_values=values[~kept].tolist()))


@visible_check
def check_nm_prune_mask(nm_prune_mask) -> int:
    cases = 0
    with part("main property"):
        w = nn.Parameter(torch.tensor([[0.5, -0.1, 0.3, -0.7, 0.2, 0.9, -0.05, 0.01],
                                       [1.0, 2.0, -3.0, 4.0, -0.4, 0.3, 0.2, -0.1]]))
        mask = call(nm_prune_mask, w, 2, 4)
        _expect_bool_mask(mask, w.shape, _("nm_prune_mask(Parameter of shape (2, 8), 2, 4)"))
        expected = torch.tensor([[True, False, False, True, True, True, False, False],
                                 [False, False, True, True, True, True, False, False]])
        expect(torch.equal(mask, expected),
               _("nm_prune_mask(w={w}, n=2, m=4) returned {mask}; expected {expected}: in "
                 "every group of 4 consecutive weights of a row, keep the 2 largest |w| (True "
                 "= keep).").format(
                 w=w.tolist(), mask=mask.int().tolist(), expected=expected.int().tolist()))
        torch.manual_seed(0)
        w64 = torch.randn(6, 12, dtype=torch.float64)
        for n, m in ((1, 4), (2, 4), (3, 6), (1, 2)):
            mask = call(nm_prune_mask, w64, n, m)
            what = _("nm_prune_mask(float64 tensor of shape (6, 12), n={n}, m={m})").format(
                n=n, m=m)
            _expect_bool_mask(mask, w64.shape, what)
            _expect_nm_groups(w64, mask, n, m, what)
            cases += 1
        cases += 1
    with part("conv weights"):
        # Rows of weight.flatten(1): for [out, in, kh, kw] the order is (in, kh, kw).
        conv_w = torch.zeros(2, 2, 2, 2)
        conv_w[0] = torch.tensor([[[4.0, 3.0], [2.0, 1.0]], [[-1.0, 2.0], [3.0, -4.0]]])
        conv_w[1] = torch.tensor([[[1.0, 1.5], [-2.0, 0.5]], [[0.1, 0.2], [-0.3, 0.4]]])
        mask = call(nm_prune_mask, conv_w, 2, 4)
        _expect_bool_mask(mask, conv_w.shape, _("nm_prune_mask(conv weight of shape (2, 2, 2, "
                                                "2), 2, 4)"))
        expected = torch.tensor([[[[True, True], [False, False]], [[False, False], [True, True]]],
                                 [[[False, True], [True, False]], [[False, False], [True, True]]]])
        expect(torch.equal(mask, expected),
               _("nm_prune_mask(conv weight of shape (2, 2, 2, 2), 2, 4) returned {mask} (as "
                 "weight.flatten(1)); expected {expected}: groups are 4 consecutive entries of "
                 "weight.flatten(1), whose rows run over (in, kh, kw) in that order.").format(
                 mask=mask.int().flatten(1).tolist(), expected=expected.int().flatten(1).tolist()))
        conv = nn.Conv2d(3, 4, 3)
        mask = call(nm_prune_mask, conv.weight, 2, 4)
        _expect_bool_mask(mask, conv.weight.shape, _("nm_prune_mask(Conv2d(3, 4, 3).weight, 2, "
                                                     "4)"))
        _expect_nm_groups(conv.weight, mask, 2, 4, _("nm_prune_mask(Conv2d(3, 4, 3).weight, 2, "
                                                     "4)"))
        cases += 2
    with part("tail group"):
        w = torch.tensor([[0.1, 0.4, -0.3, 0.2, -0.9, 0.05],
                          [0.3, 0.2, 0.1, 0.0, 0.5, -0.6]])
        mask = call(nm_prune_mask, w, 2, 4)
        expected = torch.tensor([[False, True, True, False, True, True],
                                 [True, True, False, False, True, True]])
        expect(isinstance(mask, torch.Tensor) and torch.equal(mask, expected),
               _("nm_prune_mask(w of shape (2, 6), n=2, m=4) returned {mask}; expected "
                 "{expected}: the last group of each row holds only 2 entries, and keeps "
                 "min(n, 2) = 2 of them.").format(
                 mask=mask.int().tolist() if isinstance(mask, torch.Tensor) else describe(mask),
                 expected=expected.int().tolist()))
        w = torch.tensor([[0.1, 0.4, -0.3, 0.2, -0.9, 0.05, 0.7]])
        mask = call(nm_prune_mask, w, 1, 3)
        expected = torch.tensor([[False, True, False, False, True, False, True]])
        expect(isinstance(mask, torch.Tensor) and torch.equal(mask, expected),
               _("nm_prune_mask(w of shape (1, 7), n=1, m=3) returned {mask}; expected "
                 "{expected}: groups (0-2), (3-5) and the tail (6) each keep their largest |w|.").format(
                 mask=mask.int().tolist() if isinstance(mask, torch.Tensor) else describe(mask),
                 expected=expected.int().tolist()))
        torch.manual_seed(1)
        w = torch.randn(5, 11)
        for n, m in ((2, 4), (3, 4), (2, 3)):
            what = _("nm_prune_mask(tensor of shape (5, 11), n={n}, m={m})").format(n=n, m=m)
            mask = call(nm_prune_mask, w, n, m)
            _expect_bool_mask(mask, w.shape, what)
            _expect_nm_groups(w, mask, n, m, what)
            cases += 1
        cases += 2
    with part("edge cases"):
        w = torch.randn(3, 8)
        keep_all = call(nm_prune_mask, w, 4, 4)
        expect(isinstance(keep_all, torch.Tensor) and bool(keep_all.all()),
               _("nm_prune_mask(w of shape (3, 8), n=4, m=4) must keep every weight (n = m)."))
        prune_all = call(nm_prune_mask, w, 0, 4)
        expect(isinstance(prune_all, torch.Tensor) and not bool(prune_all.any()),
               _("nm_prune_mask(w of shape (3, 8), n=0, m=4) must prune every weight (n = 0)."))
        ties = torch.full((2, 8), -0.5)
        mask = call(nm_prune_mask, ties, 2, 4)
        expect(isinstance(mask, torch.Tensor) and mask.shape == ties.shape and
               mask.view(2, 2, 4).sum(-1).eq(2).all(),
               _("nm_prune_mask(torch.full((2, 8), -0.5), 2, 4): every magnitude ties, yet "
                 "each group of 4 must keep exactly 2."))
        cases += 3
    with part("errors"):
        w = torch.randn(4, 8)
        for n, m in ((-1, 4), (5, 4)):
            expect_value_error(nm_prune_mask, w, n, m, argument="n")
            cases += 1
        expect_value_error(nm_prune_mask, w, 0, 0, argument="m")
        expect_value_error(nm_prune_mask, torch.randn(8), 2, 4, argument="weight")
        cases += 2
    return cases
