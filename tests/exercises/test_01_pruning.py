"""Hidden checks of lesson 01: magnitude, global and structured (channel) pruning."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from compress_course import training
from compress_course.checks import (
    call,
    expect_value_error,
    mixed_layer_model,
    two_scale_mlp,
    zeroed_channels_pair,
)
from compress_course.checks.pruning import (
    apply_masks_bad_cases,
    apply_masks_sparsity_cases,
    apply_masks_sparsity_error,
)
from compress_course.i18n import _

NOTEBOOK = "01_pruning"


@pytest.fixture(scope="module")
def nb(submission):
    return submission.load(NOTEBOOK)


def ready(fn, *args, **kwargs):
    """``fn`` after one smoke call, so an unimplemented exercise fails at once with a sentence
    (instead of hypothesis shrinking a failure that every example has)."""
    call(fn, *args, **kwargs)
    return fn


@pytest.fixture(scope="module")
def magnitude_prune_mask(nb):
    return ready(nb.magnitude_prune_mask, torch.randn(3, 4), 0.5)


@pytest.fixture(scope="module")
def global_prune_masks(nb):
    return ready(nb.global_prune_masks, nn.Sequential(nn.Linear(3, 2)), 0.5)


@pytest.fixture(scope="module")
def apply_masks(nb):
    return ready(nb.apply_masks, nn.Linear(3, 2), {"weight": torch.rand(2, 3) < 0.5},
                 modifies=(0,))


@pytest.fixture(scope="module")
def channel_l2_importance(nb):
    return ready(nb.channel_l2_importance, torch.randn(3, 2, 1, 1))


@pytest.fixture(scope="module")
def prune_conv_channels(nb):
    return ready(nb.prune_conv_channels, nn.Conv2d(1, 2, 1), nn.Conv2d(2, 1, 1), 1)


# ---------------------------------------------------------------- references and strategies

def prunable(model):
    """Reference: name -> weight of every Linear / Conv2d, in module order."""
    return {f"{name}.weight" if name else "weight": module.weight.detach()
            for name, module in model.named_modules()
            if isinstance(module, (nn.Linear, nn.Conv2d))}


def pruned(mask):
    return int((~mask).sum().item())


def assert_magnitude_order(values, mask, what):
    """No kept magnitude smaller than a pruned one (over flattened ``values`` and ``mask``)."""
    if mask.all() or not mask.any():
        return
    largest_pruned = values.abs()[~mask].max().item()
    smallest_kept = values.abs()[mask].min().item()
    assert largest_pruned <= smallest_kept, (
        _("{what} pruned a weight with |w| = {largest_pruned:.6g} but kept one with |w| = "
          "{smallest_kept:.6g}: prune the smallest magnitudes first.").format(
            what=what, largest_pruned=largest_pruned, smallest_kept=smallest_kept))


shapes = st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple)
float_dtypes = st.sampled_from([torch.float32, torch.float64])
unit_sparsity = st.floats(0, 1, allow_nan=False)


def random_tensor(shape, dtype, seed, ties=False):
    generator = torch.Generator().manual_seed(seed)
    if ties:  # few distinct values, both signs: many exact ties in magnitude
        return torch.randint(-3, 4, shape, generator=generator).to(dtype) * 0.5
    return torch.randn(shape, generator=generator, dtype=dtype)


def layer_stack(specs, seed):
    """A Sequential of Linear/Conv2d layers (not meant to run forward), each at its own scale."""
    torch.manual_seed(seed)
    layers = []
    for kind, a, b, scale, bias in specs:
        layer = nn.Linear(a, b, bias=bias) if kind == "linear" else nn.Conv2d(a, b, 3, bias=bias)
        with torch.no_grad():
            layer.weight.mul_(scale)
        layers.append(layer)
    return nn.Sequential(*layers)


layer_specs = st.lists(
    st.tuples(st.sampled_from(["linear", "conv"]), st.integers(1, 8), st.integers(1, 8),
              st.sampled_from([1e-3, 1.0, 1e3]), st.booleans()),
    min_size=1, max_size=4)


# ---------------------------------------------------------------- magnitude_prune_mask (3 points)

@pytest.mark.exercise("magnitude_prune_mask", points=3, check="main property", weight=2)
@given(shape=shapes, dtype=float_dtypes, sparsity=unit_sparsity, seed=st.integers(0, 2**16),
       ties=st.booleans())
@settings(max_examples=60)
def test_magnitude_mask_exact_count_and_order(magnitude_prune_mask, shape, dtype, sparsity, seed, ties):
    w = random_tensor(shape, dtype, seed, ties)
    mask = call(magnitude_prune_mask, w, sparsity)
    what = _("magnitude_prune_mask(w of shape {shape}{ties_note}, {sparsity!r})").format(
               shape=shape, ties_note=_(' with ties') if ties else '',
               sparsity=sparsity)
    assert isinstance(mask, torch.Tensor) and mask.dtype == torch.bool, (
        _("{what} returned {mask_type} "
          "{mask_dtype}; expected a torch.bool tensor (True = keep).").format(
            what=what, mask_type=type(mask).__name__, mask_dtype=getattr(mask, 'dtype', '')))
    assert mask.shape == w.shape, _("{what} returned shape {mask_shape}; expected {shape}.").format(
                                      what=what, mask_shape=tuple(mask.shape), shape=shape)
    expected = round(sparsity * w.numel())
    assert pruned(mask) == expected, (
        _("{what} pruned {n_pruned} of {w_numel} entries; expected round({sparsity!r} * "
          "{w_numel}) = {expected}.").format(
            what=what, n_pruned=pruned(mask), w_numel=w.numel(), sparsity=sparsity,
            expected=expected))
    assert_magnitude_order(w.flatten(), mask.flatten(), what)


@pytest.mark.exercise("magnitude_prune_mask", points=3, check="edge cases", weight=1)
@given(shape=shapes, value=st.sampled_from([0.0, 1.0, -2.5]))
def test_magnitude_mask_edges(magnitude_prune_mask, shape, value):
    w = torch.full(shape, value)
    keep_all = call(magnitude_prune_mask, w, 0.0)
    assert keep_all.dtype == torch.bool and bool(keep_all.all()), (
        _("magnitude_prune_mask(torch.full({shape}, {value}), 0.0) pruned "
          "{n_pruned} entries; sparsity 0 keeps everything.").format(
            shape=shape, value=value, n_pruned=pruned(keep_all)))
    prune_all = call(magnitude_prune_mask, w, 1.0)
    assert not bool(prune_all.any()), (
        _("magnitude_prune_mask(torch.full({shape}, {value}), 1.0) kept "
          "{n_kept} entries; sparsity 1 prunes everything.").format(
            shape=shape, value=value, n_kept=int(prune_all.sum())))
    half = call(magnitude_prune_mask, w, 0.5)
    assert pruned(half) == round(0.5 * w.numel()), (
        _("magnitude_prune_mask(torch.full({shape}, {value}) (all tied), 0.5) pruned "
          "{n_pruned}; expected exactly {half_count} even though every "
          "magnitude ties.").format(
            shape=shape, value=value, n_pruned=pruned(half),
            half_count=round(0.5 * w.numel())))


@pytest.mark.exercise("magnitude_prune_mask", points=3, check="main property", weight=2)
def test_magnitude_mask_known_values_and_parameter_input(magnitude_prune_mask):
    w = nn.Parameter(torch.tensor([[-3.0, 0.1, 2.0], [0.5, -0.2, 1.0]]))
    mask = call(magnitude_prune_mask, w, 0.5)
    expected = torch.tensor([[True, False, True], [False, False, True]])
    assert torch.equal(mask, expected), (
        _("magnitude_prune_mask(Parameter {w_list}, 0.5) returned {mask_list}; expected "
          "{expected_list} (prune |w| = 0.1, 0.2, 0.5).").format(
            w_list=w.tolist(), mask_list=mask.tolist(), expected_list=expected.tolist()))
    assert not mask.requires_grad


@pytest.mark.exercise("magnitude_prune_mask", points=3, check="errors", weight=1)
@given(bad=st.one_of(st.floats(max_value=-1e-9, allow_nan=False, allow_infinity=False),
                     st.floats(min_value=1 + 1e-9, allow_nan=False, allow_infinity=False)))
@settings(max_examples=25)
def test_magnitude_mask_rejects_bad_sparsity(magnitude_prune_mask, bad):
    expect_value_error(magnitude_prune_mask, torch.randn(4, 4), bad, argument="sparsity")


# ---------------------------------------------------------------- global_prune_masks (3 points)

@pytest.mark.exercise("global_prune_masks", points=3, check="main property", weight=2)
@given(specs=layer_specs, sparsity=unit_sparsity, seed=st.integers(0, 2**16))
@settings(max_examples=40)
def test_global_masks_one_threshold(global_prune_masks, specs, sparsity, seed):
    model = layer_stack(specs, seed)
    weights = prunable(model)
    masks = call(global_prune_masks, model, sparsity)
    what = (_("global_prune_masks(layers {layers}, "
              "sparsity={sparsity!r})").format(
                layers=[(k, a, b, s) for k, a, b, s, _ in specs],
                sparsity=sparsity))
    assert isinstance(masks, dict) and sorted(masks) == sorted(weights), (
        _("{what} returned keys {keys!r}; "
          "expected {weights}.").format(
            what=what,
            keys=sorted(masks) if isinstance(masks, dict) else masks,
            weights=sorted(weights)))
    for name, w in weights.items():
        assert masks[name].dtype == torch.bool and masks[name].shape == w.shape, (
            _("{what}[{name!r}] has dtype {masks_name_dtype} and shape "
              "{masks_name_shape}; expected torch.bool and {w_shape}.").format(
                what=what, name=name, masks_name_dtype=masks[name].dtype,
                masks_name_shape=tuple(masks[name].shape), w_shape=tuple(w.shape)))
    total = sum(w.numel() for w in weights.values())
    got = sum(pruned(m) for m in masks.values())
    assert got == round(sparsity * total), (
        _("{what} pruned {got} of {total} weights; expected round({sparsity!r} * {total}) = "
          "{expected_count}.").format(
            what=what, got=got, total=total, sparsity=sparsity,
            expected_count=round(sparsity * total)))
    values = torch.cat([w.flatten().double() for w in weights.values()])
    flat_mask = torch.cat([masks[name].flatten() for name in weights])
    assert_magnitude_order(values, flat_mask, _("{what} (across layers: one threshold)").format(
                                                  what=what))


@pytest.mark.exercise("global_prune_masks", points=3, check="main property", weight=2)
@given(big=st.sampled_from([10.0, 100.0, 1e4]), small=st.sampled_from([1e-4, 1e-2, 0.1]),
       seed=st.integers(0, 1000))
@settings(max_examples=20)
def test_global_masks_different_scales(global_prune_masks, big, small, seed):
    model = two_scale_mlp(big, small, seed)
    masks = call(global_prune_masks, model, 32 / 80)
    got = {name: pruned(mask) for name, mask in masks.items()}
    assert got == {"0.weight": 0, "2.weight": 32}, (
        _("global_prune_masks(model with a first weight ~{big} and a second ~{small}, "
          "sparsity=0.4) pruned {got}; expected {{'0.weight': 0, '2.weight': 32}}: one global "
          "threshold prunes the small-scale layer entirely before touching the other.").format(
            big=big, small=small, got=got))


@pytest.mark.exercise("global_prune_masks", points=3, check="only Linear and Conv2d weights", weight=1)
@given(sparsity=unit_sparsity)
@settings(max_examples=20)
def test_global_masks_only_linear_and_conv_weights(global_prune_masks, sparsity):
    model = mixed_layer_model()
    masks = call(global_prune_masks, model, sparsity)
    expected = ["features.0.weight", "features.3.weight", "head.weight"]
    assert isinstance(masks, dict) and sorted(masks) == expected, (
        _("global_prune_masks(model with Conv2d, BatchNorm2d, LayerNorm, Linear) returned keys "
          "{keys!r}; expected {expected} "
          "(norm layers' weights and all biases are never pruned).").format(
            keys=sorted(masks) if isinstance(masks, dict) else masks,
            expected=expected))
    total = 27 + 6 + 160
    got = sum(pruned(m) for m in masks.values())
    assert got == round(sparsity * total), (
        _("global_prune_masks(mixed model, sparsity={sparsity!r}) pruned {got}; expected "
          "{expected_count}.").format(
            sparsity=sparsity, got=got, expected_count=round(sparsity * total)))


@pytest.mark.exercise("global_prune_masks", points=3, check="edge cases", weight=1)
def test_global_masks_edges(global_prune_masks):
    from compress_course import models
    torch.manual_seed(0)
    mlp = models.course_mlp()
    masks = call(global_prune_masks, mlp, 0.0)
    assert sorted(masks) == ["layers.0.weight", "layers.2.weight", "layers.4.weight"], (
        _("global_prune_masks(course_mlp(), 0.0) returned keys {masks}; expected "
          "['layers.0.weight', 'layers.2.weight', 'layers.4.weight'].").format(masks=sorted(masks)))
    assert all(bool(m.all()) for m in masks.values()), _("sparsity 0 must keep every weight.")
    masks = call(global_prune_masks, mlp, 1.0)
    assert not any(bool(m.any()) for m in masks.values()), _("sparsity 1 must prune every weight.")


@pytest.mark.exercise("global_prune_masks", points=3, check="errors", weight=1)
def test_global_masks_errors(global_prune_masks):
    from compress_course import models
    torch.manual_seed(0)
    mlp = models.course_mlp()
    for bad in (-0.01, 1.01, 2.0):
        expect_value_error(global_prune_masks, mlp, bad, argument="sparsity")


# ---------------------------------------------------------------- apply_masks (2 points)

def random_masks(model, seed, subset):
    generator = torch.Generator().manual_seed(seed)
    names = [n for n in prunable(model)][: max(1, subset)]
    return {name: torch.rand(model.get_parameter(name).shape, generator=generator) < 0.6
            for name in names}


def effective_weight(model, name):
    """The weight a forward pass uses (works for torch.nn.utils.prune's re-parametrization)."""
    module = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
    return module.weight.detach()


@pytest.mark.exercise("apply_masks", points=2, check="main property", weight=1)
@given(sizes=st.lists(st.integers(1, 12), min_size=2, max_size=4), seed=st.integers(0, 2**16),
       subset=st.integers(1, 3))
@settings(max_examples=40)
def test_apply_masks_zeroes_exactly_the_masked(apply_masks, sizes, seed, subset):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers)
    before = copy.deepcopy(model)
    masks = random_masks(model, seed, subset)
    call(apply_masks, model, masks, modifies=(0,))
    model(torch.randn(2, sizes[0]))
    for name, p0 in before.named_parameters():
        now = effective_weight(model, name) if name in masks else model.get_parameter(name)
        expected = torch.where(masks[name], p0, torch.zeros_like(p0)) if name in masks else p0
        assert torch.equal(now.detach(), expected.detach()), (
            (_("after apply_masks(MLP {sizes}, masks for {names}), {name!r} is not the original "
               "with the masked entries zeroed.") if name in masks else
             _("after apply_masks(MLP {sizes}, masks for {names}), {name!r} is not unchanged: "
               "parameters without a mask must not change.")).format(
                sizes=sizes, names=sorted(masks), name=name))


@pytest.mark.exercise("apply_masks", points=2, check="returned sparsity", weight=1)
@given(sizes=st.lists(st.integers(1, 10), min_size=2, max_size=3), seed=st.integers(0, 2**16),
       subset=st.integers(1, 2), zeros=st.floats(0.0, 0.5))
@settings(max_examples=15)
def test_apply_masks_returns_the_sparsity(apply_masks, sizes, seed, subset, zeros):
    torch.manual_seed(seed)
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers)
    with torch.no_grad():  # some entries already zero, some of them where the mask keeps them
        for p in model.parameters():
            p.mul_(torch.rand(p.shape) >= zeros)
    masks = random_masks(model, seed, subset)
    expected = {name: (((model.get_parameter(name) == 0) | ~mask).sum().item() / mask.numel())
                for name, mask in masks.items()}
    problem = apply_masks_sparsity_error(apply_masks, model, masks, expected)
    assert problem is None, problem


@pytest.mark.exercise("apply_masks", points=2, check="returned sparsity", weight=1)
def test_apply_masks_returns_the_sparsity_on_known_cases(apply_masks):
    for model, masks, expected in apply_masks_sparsity_cases():
        problem = apply_masks_sparsity_error(apply_masks, model, masks, expected)
        assert problem is None, problem


@pytest.mark.exercise("apply_masks", points=2, check="errors", weight=1)
def test_apply_masks_refuses_wrong_masks(apply_masks):
    for model, masks in apply_masks_bad_cases():
        expect_value_error(apply_masks, model, masks, argument="masks")
    torch.manual_seed(1)
    conv = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    for masks in ({"0.weight": torch.ones(4, 2, 3, dtype=torch.bool)},       # 3-D for 4-D
                  {"0.weight": torch.ones(4, 2, 3, 3, dtype=torch.float64)},  # float64 ones
                  {"3.weight": torch.ones(2, 4, dtype=torch.bool),           # one good,
                   "4.weight": torch.ones(2, 4, dtype=torch.bool)}):         # one missing
        expect_value_error(apply_masks, conv, masks, argument="masks")


def make_optimizer(name, parameters):
    if name == "sgd_momentum":
        return torch.optim.SGD(parameters, lr=0.1, momentum=0.9, weight_decay=1e-3)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=0.05)
    return torch.optim.AdamW(parameters, lr=0.05, weight_decay=0.1)


def masked_training_scenario(apply_masks, model, masks, optimizer_name, x, y):
    """Runs where the learner's code runs (their hooks live there): an optimizer created
    first, then apply_masks, then 4 steps each followed by apply_masks (as
    ``training.train(step_hook=...)`` does); returns the weights a forward pass then uses."""
    optimizer = make_optimizer(optimizer_name, model.parameters())
    apply_masks(model, masks)
    for _step in range(4):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
        apply_masks(model, masks)
    with torch.no_grad():
        model(x)
    return {name: effective_weight(model, name).clone() for name in masks}


def in_child(function, scenario, *args):
    runner = getattr(function, "run_with", None)
    if runner is None:  # --in-process grading
        return scenario(function, *args)
    return runner(scenario, *args)


def bump_result_in_child(prune_conv_channels, conv, next_conv, keep):
    """Runs where the learner's code runs: prune, add 1 to every new parameter, and send back
    the ORIGINAL layers' parameters as they are there. Memory shared with the originals (a
    reused bias, a view of the weight) shows up here; the copies the sandbox sends back to
    this process would hide it."""
    new_conv, new_next = prune_conv_channels(conv, next_conv, keep)
    with torch.no_grad():
        for q in (*new_conv.parameters(), *new_next.parameters()):
            q.add_(1.0)
    return [q.detach().clone() for q in (*conv.parameters(), *next_conv.parameters())]


@pytest.mark.exercise("apply_masks", points=2, check="stays zero through training", weight=1)
@given(optimizer_name=st.sampled_from(["sgd_momentum", "adam", "adamw"]),
       seed=st.integers(0, 1000))
@settings(max_examples=6)
def test_masks_stay_applied_through_training(apply_masks, optimizer_name, seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(4 * 5 * 5, 3))
    masks = random_masks(model, seed, subset=2)
    before = {name: effective_weight(model, name).clone() for name in masks}
    x, y = torch.randn(8, 1, 5, 5), torch.randint(0, 3, (8,))
    weights = in_child(apply_masks, masked_training_scenario, model, masks, optimizer_name, x, y)
    assert isinstance(weights, dict) and sorted(weights) == sorted(masks)
    for name, mask in masks.items():
        w = weights[name]
        assert bool((w[~mask] == 0).all()), (
            _("after 4 {optimizer_name} steps, each followed by apply_masks, {name!r} has "
              "{nonzero} non-zero pruned entries; expected all zero.").format(
                optimizer_name=optimizer_name, name=name, nonzero=int((w[~mask] != 0).sum())))
        assert not torch.equal(w[mask], before[name][mask]), (
            _("an optimizer created before apply_masks took 4 {optimizer_name} steps, yet the "
              "kept entries of {name!r} did not change: apply_masks must zero entries of the "
              "existing parameter in place (e.g. `param.mul_(mask)` under torch.no_grad()), not "
              "assign a new nn.Parameter that the optimizer does not hold.").format(
                optimizer_name=optimizer_name, name=name))


@pytest.mark.exercise("apply_masks", points=2, check="stays zero through training", weight=1)
def test_apply_masks_with_training_step_hook(apply_masks):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    masks = {"0.weight": torch.rand(16, 8) < 0.3, "2.weight": torch.rand(3, 16) < 0.5}
    apply_masks(model, masks)
    x, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    training.train(model, loader, epochs=2, lr=1e-2, step_hook=lambda m: apply_masks(m, masks),
                   desc="check")
    model(x)
    for name, mask in masks.items():
        w = effective_weight(model, name)
        assert bool((w[~mask] == 0).all()), (
            _("after training.train(..., step_hook=lambda m: apply_masks(m, masks)), {name!r} "
              "has non-zero pruned entries.").format(name=name))


# ---------------------------------------------------------------- channel_l2_importance (2 points)

@pytest.mark.exercise("channel_l2_importance", points=2, check="main property", weight=1)
@given(shape=st.tuples(st.integers(1, 16), st.integers(1, 6), st.integers(1, 5),
                       st.integers(1, 5)),
       dtype=float_dtypes, seed=st.integers(0, 2**16))
@settings(max_examples=50)
def test_channel_importance_matches_reference(channel_l2_importance, shape, dtype, seed):
    w = random_tensor(shape, dtype, seed)
    got = call(channel_l2_importance, w)
    expected = torch.sqrt((w.double() ** 2).sum(dim=(1, 2, 3)))
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == (shape[0],), (
        _("channel_l2_importance(weight of shape {shape}) returned shape "
          "{got_shape}; expected ({shape_0},).").format(
            shape=shape, got_shape=tuple(getattr(got, 'shape', ())), shape_0=shape[0]))
    assert torch.allclose(got.double(), expected, rtol=1e-5, atol=1e-6), (
        _("channel_l2_importance(weight of shape {shape}) returned "
          "{got_head}...; expected "
          "{expected_head}...: sqrt of the sum of squares of "
          "each output filter.").format(
            shape=shape, got_head=[round(v, 4) for v in got.tolist()[:4]],
            expected_head=[round(v, 4) for v in expected.tolist()[:4]]))


@pytest.mark.exercise("channel_l2_importance", points=2, check="main property", weight=1)
def test_channel_importance_known_values(channel_l2_importance):
    w = torch.zeros(4, 1, 1, 2)
    w[0, 0, 0] = torch.tensor([3.0, -4.0])
    w[1, 0, 0] = torch.tensor([-1.0, 0.0])
    w[3, 0, 0] = torch.tensor([0.5, 0.5])
    got = call(channel_l2_importance, nn.Parameter(w))
    expected = torch.tensor([5.0, 1.0, 0.0, 0.5 ** 0.5])
    assert torch.allclose(got.detach(), expected), (
        _("channel_l2_importance(filters [[3, -4], [-1, 0], [0, 0], [0.5, 0.5]]) returned "
          "{got_list}; expected [5, 1, 0, 0.7071] (L2, not L1 and not squared).").format(
            got_list=got.tolist()))


@pytest.mark.exercise("channel_l2_importance", points=2, check="L1 norm", weight=1)
@given(shape=st.tuples(st.integers(1, 16), st.integers(1, 6), st.integers(1, 5),
                       st.integers(1, 5)),
       dtype=float_dtypes, seed=st.integers(0, 2**16))
@settings(max_examples=40)
def test_channel_importance_l1(channel_l2_importance, shape, dtype, seed):
    w = random_tensor(shape, dtype, seed)
    got = call(channel_l2_importance, w, norm=1)
    expected = w.double().abs().sum(dim=(1, 2, 3))
    assert isinstance(got, torch.Tensor) and tuple(got.shape) == (shape[0],), (
        _("channel_l2_importance(weight of shape {shape}, norm=1) returned shape "
          "{got_shape}; expected ({shape_0},).").format(
            shape=shape, got_shape=tuple(getattr(got, 'shape', ())), shape_0=shape[0]))
    assert torch.allclose(got.double(), expected, rtol=1e-5, atol=1e-6), (
        _("channel_l2_importance(weight of shape {shape}, norm=1) returned "
          "{got_head}...; expected "
          "{expected_head}...: the sum of |w| of each output filter.").format(
            shape=shape, got_head=[round(v, 4) for v in got.tolist()[:4]],
            expected_head=[round(v, 4) for v in expected.tolist()[:4]]))


@pytest.mark.exercise("channel_l2_importance", points=2, check="L1 norm", weight=1)
def test_channel_importance_l1_known_values(channel_l2_importance):
    w = torch.zeros(3, 1, 1, 2)
    w[0, 0, 0] = torch.tensor([3.0, -4.0])
    w[2, 0, 0] = torch.tensor([-0.5, -0.25])
    got = call(channel_l2_importance, nn.Parameter(w), norm=1)
    assert isinstance(got, torch.Tensor) and torch.allclose(got.detach(), torch.tensor([7.0, 0.0, 0.75])), (
        _("channel_l2_importance(filters [[3, -4], [0, 0], [-0.5, -0.25]], norm=1) returned "
          "{got_value!r}; expected [7, 0, 0.75].").format(
            got_value=got.tolist() if isinstance(got, torch.Tensor) else got))


@pytest.mark.exercise("channel_l2_importance", points=2, check="errors", weight=1)
def test_channel_importance_errors(channel_l2_importance):
    for bad in (0, 3, 1.5, -1):
        expect_value_error(channel_l2_importance, torch.randn(2, 1, 1, 1), norm=bad, argument="norm")


# ---------------------------------------------------------------- prune_conv_channels (4 points)

conv_pairs = st.fixed_dictionaries({
    "c_in": st.integers(1, 4), "mid": st.integers(1, 10), "c_out": st.integers(1, 5),
    "k1": st.integers(1, 3), "k2": st.integers(1, 3), "stride1": st.integers(1, 2),
    "stride2": st.integers(1, 2), "pad1": st.integers(0, 1), "pad2": st.integers(0, 1),
    "bias1": st.booleans(), "bias2": st.booleans(), "dtype": float_dtypes,
    "seed": st.integers(0, 2**16), "keep_fraction": st.floats(0, 1),
})


def build_pair(p):
    torch.manual_seed(p["seed"])
    conv = nn.Conv2d(p["c_in"], p["mid"], p["k1"], stride=p["stride1"], padding=p["pad1"],
                     bias=p["bias1"], dtype=p["dtype"])
    next_conv = nn.Conv2d(p["mid"], p["c_out"], p["k2"], stride=p["stride2"], padding=p["pad2"],
                          bias=p["bias2"], dtype=p["dtype"])
    keep = max(1, min(p["mid"], round(p["keep_fraction"] * p["mid"])))
    return conv, next_conv, keep


def reference_kept(conv, keep):
    importance = conv.weight.detach().double().flatten(1).norm(dim=1)
    return torch.topk(importance, keep).indices.sort().values


def describe_pair(conv, next_conv, keep):
    return f"prune_conv_channels({conv!r}, {next_conv!r}, keep={keep})"


@pytest.mark.exercise("prune_conv_channels", points=4, check="main property", weight=2)
@given(p=conv_pairs)
@settings(max_examples=40)
def test_pruned_pair_equals_zeroed_original(prune_conv_channels, p):
    conv, next_conv, keep = build_pair(p)
    what = describe_pair(conv, next_conv, keep)
    result = call(prune_conv_channels, conv, next_conv, keep)
    assert isinstance(result, tuple) and len(result) == 2 and all(
        isinstance(m, nn.Conv2d) for m in result), (
        _("{what} returned {result_type}; expected a tuple of two nn.Conv2d.").format(
            what=what, result_type=type(result).__name__))
    new_conv, new_next = result
    assert new_conv is not conv and new_next is not next_conv, (
        _("{what} returned an original layer; it must build new, smaller ones.").format(what=what))
    assert new_conv.out_channels == keep and new_next.in_channels == keep and \
        tuple(new_conv.weight.shape) == (keep, p["c_in"], p["k1"], p["k1"]) and \
        tuple(new_next.weight.shape) == (p["c_out"], keep, p["k2"], p["k2"]), (
        _("{what} returned weights of shapes {new_conv_weight_shape} and "
          "{new_next_weight_shape}; expected {conv_shape} and "
          "{next_shape}.").format(
            what=what, new_conv_weight_shape=tuple(new_conv.weight.shape),
            new_next_weight_shape=tuple(new_next.weight.shape),
            conv_shape=(keep, p['c_in'], p['k1'], p['k1']),
            next_shape=(p['c_out'], keep, p['k2'], p['k2'])))
    for new, old, label in ((new_conv, conv, "conv"), (new_next, next_conv, "next_conv")):
        assert (new.kernel_size, new.stride, new.padding, new.dilation) == \
            (old.kernel_size, old.stride, old.padding, old.dilation), (
            _("{what}: the new {label} has kernel/stride/padding/dilation "
              "{new_geometry}; expected those of "
              "the original, {old_geometry}.").format(
                what=what, label=label,
                new_geometry=(new.kernel_size, new.stride, new.padding, new.dilation),
                old_geometry=(old.kernel_size, old.stride, old.padding, old.dilation)))
        assert (new.bias is None) == (old.bias is None), (
            _("{what}: the new {label} {lost_or_gained} a bias.").format(
                what=what, label=label,
                lost_or_gained=_('lost') if new.bias is None else _('gained')))
        assert new.weight.dtype == old.weight.dtype, (
            _("{what}: the new {label}'s weight is {new_weight_dtype}; expected "
              "{old_weight_dtype} (keep the original dtype).").format(
                what=what, label=label, new_weight_dtype=new.weight.dtype,
                old_weight_dtype=old.weight.dtype))
    kept = reference_kept(conv, keep)
    x = torch.randn(2, p["c_in"], 9, 9, dtype=p["dtype"])
    ref_conv, ref_next = zeroed_channels_pair(conv, next_conv, kept)
    with torch.no_grad():
        expected = ref_next(torch.relu(ref_conv(x)))
        got = new_next(torch.relu(new_conv(x)))
    tolerance = 1e-10 if p["dtype"] == torch.float64 else 1e-5
    assert got.shape == expected.shape and torch.allclose(got, expected, atol=tolerance,
                                                          rtol=tolerance), (
        _("{what}: the pruned pair differs from the original pair with channels "
          "{off_channels} switched off "
          "(max difference {max_diff:.3g}).").format(
            what=what, off_channels=sorted(set(range(p['mid'])) - set(kept.tolist())),
            max_diff=(got - expected).abs().max().item()))


@pytest.mark.exercise("prune_conv_channels", points=4, check="main property", weight=2)
@given(p=conv_pairs)
@settings(max_examples=30)
def test_pruned_channels_keep_order_and_biases(prune_conv_channels, p):
    conv, next_conv, keep = build_pair(p)
    what = describe_pair(conv, next_conv, keep)
    new_conv, new_next = call(prune_conv_channels, conv, next_conv, keep)
    kept = reference_kept(conv, keep)
    assert torch.equal(new_conv.weight.detach(), conv.weight.detach()[kept]), (
        _("{what}: the new conv's filters are not conv.weight[{kept_list}]: keep the "
          "{keep} largest-L2 filters, in their original order.").format(
            what=what, kept_list=kept.tolist(), keep=keep))
    assert torch.equal(new_next.weight.detach(), next_conv.weight.detach()[:, kept]), (
        _("{what}: the new next conv's weight is not next_conv.weight[:, {kept_list}].").format(
            what=what, kept_list=kept.tolist()))
    if conv.bias is not None:
        assert torch.equal(new_conv.bias.detach(), conv.bias.detach()[kept]), (
            _("{what}: the new conv's bias is not conv.bias[{kept_list}] (carry the kept "
              "channels' biases).").format(what=what, kept_list=kept.tolist()))
    if next_conv.bias is not None:
        assert torch.equal(new_next.bias.detach(), next_conv.bias.detach()), (
            _("{what}: the new next conv's bias must equal next_conv.bias (its output channels "
              "are unchanged).").format(what=what))
    assert all(q.requires_grad for q in (*new_conv.parameters(), *new_next.parameters())), (
        _("{what}: the new layers' parameters must be trainable (requires_grad=True).").format(
            what=what))
    originals = [q.detach().clone() for q in (*conv.parameters(), *next_conv.parameters())]
    with torch.no_grad():
        for q in (*new_conv.parameters(), *new_next.parameters()):
            q.add_(1.0)
    assert all(torch.equal(a, b) for a, b in zip(
        originals, [q.detach() for q in (*conv.parameters(), *next_conv.parameters())],
        strict=True)), (
        _("{what}: changing the new layers' weights changed the originals: copy the kept "
          "slices into new parameters instead of sharing memory.").format(what=what))
    after = in_child(prune_conv_channels, bump_result_in_child, conv, next_conv, keep)
    assert len(after) == len(originals) and all(
        isinstance(a, torch.Tensor) and torch.equal(a, b)
        for a, b in zip(after, originals, strict=True)), (
        _("{what}: changing the new layers' parameters changed the originals: copy the kept "
          "slices (and the next conv's bias) into new parameters instead of sharing memory.").format(
            what=what))


@pytest.mark.exercise("prune_conv_channels", points=4, check="edge cases", weight=1)
def test_prune_conv_channels_full_keep(prune_conv_channels):
    torch.manual_seed(3)
    conv, next_conv = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 2, 3)
    new_conv, new_next = call(prune_conv_channels, conv, next_conv, 6)
    assert torch.equal(new_conv.weight, conv.weight) and torch.equal(new_next.weight,
                                                                     next_conv.weight), (
        _("prune_conv_channels(conv with 6 channels, next_conv, keep=6) must return copies of the "
          "original layers with the channels in their original order, not sorted by importance."))


@pytest.mark.exercise("prune_conv_channels", points=4, check="errors", weight=1)
def test_prune_conv_channels_errors(prune_conv_channels):
    torch.manual_seed(3)
    conv, next_conv = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(6, 2, 3)
    for bad in (0, -1, 7):
        expect_value_error(prune_conv_channels, conv, next_conv, bad, argument="keep")


# ---------------------------------------------------------------- nm_prune_mask (3 points)

@pytest.fixture(scope="module")
def nm_prune_mask(nb):
    return ready(nb.nm_prune_mask, torch.randn(2, 8), 2, 4)


def assert_nm_groups(weight, mask, n, m, what):
    """Independent reference: walk every group of ``m`` consecutive entries of every row of
    ``weight.flatten(1)`` (the last group of a row may be shorter)."""
    assert isinstance(mask, torch.Tensor) and mask.dtype == torch.bool, (
        _("{what} returned {mask_type} {mask_dtype}; expected a "
          "torch.bool tensor (True = keep).").format(
            what=what, mask_type=type(mask).__name__, mask_dtype=getattr(mask, 'dtype', '')))
    assert mask.shape == weight.shape, (
        _("{what} returned shape {mask_shape}; expected the weight's shape "
          "{weight_shape}.").format(
            what=what, mask_shape=tuple(mask.shape), weight_shape=tuple(weight.shape)))
    rows = weight.detach().double().abs().flatten(1).tolist()
    keep = mask.flatten(1).tolist()
    for r, (values, kept) in enumerate(zip(rows, keep, strict=True)):
        for start in range(0, len(values), m):
            group = list(zip(values[start:start + m], kept[start:start + m], strict=True))
            expected = min(n, len(group))
            got = sum(k for _, k in group)
            assert got == expected, (
                _("{what}: row {r} of weight.flatten(1), entries {start}-{end} "
                  "(a group of {group}) keeps {got}; expected min(n, group size) = {expected}.").format(
                    what=what, r=r, start=start, end=start + len(group) - 1,
                    group=len(group), got=got, expected=expected))
            kept_values = [v for v, k in group if k]
            pruned_values = [v for v, k in group if not k]
            if kept_values and pruned_values:
                assert max(pruned_values) <= min(kept_values), (
                    _("{what}: row {r}, entries {start}-{end}: pruned |w| = "
                      "{max_pruned:.6g} but kept |w| = {min_kept:.6g}; keep the n "
                      "largest magnitudes of each group.").format(
                        what=what, r=r, start=start, end=start + len(group) - 1,
                        max_pruned=max(pruned_values), min_kept=min(kept_values)))


nm_pairs = st.integers(1, 8).flatmap(lambda m: st.tuples(st.integers(0, m), st.just(m)))


@pytest.mark.exercise("nm_prune_mask", points=3, check="main property", weight=2)
@given(nm=nm_pairs, rows=st.integers(1, 6), groups=st.integers(1, 5), dtype=float_dtypes,
       seed=st.integers(0, 2**16), ties=st.booleans())
@settings(max_examples=60)
def test_nm_mask_groups_of_a_matrix(nm_prune_mask, nm, rows, groups, dtype, seed, ties):
    n, m = nm
    w = random_tensor((rows, groups * m), dtype, seed, ties)
    mask = call(nm_prune_mask, w, n, m)
    what = _("nm_prune_mask(w of shape {w_shape}{ties_note}, n={n}, m={m})").format(
               w_shape=tuple(w.shape), ties_note=_(' with ties') if ties else '', n=n,
               m=m)
    assert_nm_groups(w, mask, n, m, what)


@pytest.mark.exercise("nm_prune_mask", points=3, check="main property", weight=2)
def test_nm_mask_known_values_and_parameter_input(nm_prune_mask):
    w = nn.Parameter(torch.tensor([[0.3, -2.0, 0.1, 1.0, -0.2, 0.25, 0.5, -0.6]]))
    mask = call(nm_prune_mask, w, 2, 4)
    expected = torch.tensor([[False, True, False, True, False, False, True, True]])
    assert isinstance(mask, torch.Tensor) and torch.equal(mask, expected), (
        _("nm_prune_mask(Parameter {w_list}, 2, 4) returned "
          "{mask_value!r}; expected "
          "{expected_list}.").format(
            w_list=w.tolist(),
            mask_value=mask.int().tolist() if isinstance(mask, torch.Tensor) else mask,
            expected_list=expected.int().tolist()))
    assert not mask.requires_grad


@pytest.mark.exercise("nm_prune_mask", points=3, check="conv weights", weight=1)
@given(nm=nm_pairs, shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3),
                                    st.integers(1, 3)),
       dtype=float_dtypes, seed=st.integers(0, 2**16))
@settings(max_examples=40)
def test_nm_mask_conv_weights(nm_prune_mask, nm, shape, dtype, seed):
    n, m = nm
    w = random_tensor(shape, dtype, seed)
    mask = call(nm_prune_mask, w, n, m)
    assert_nm_groups(w, mask, n, m, _("nm_prune_mask(conv weight of shape {shape}, n={n}, m={m})").format(
                                        shape=shape, n=n, m=m))


@pytest.mark.exercise("nm_prune_mask", points=3, check="conv weights", weight=1)
def test_nm_mask_conv_order_is_in_kh_kw(nm_prune_mask):
    # Along weight.flatten(1) the row of filter 0 is 0..15, increasing: the 2 largest of
    # each group of 4 are its last two. Any other order of (in, kh, kw) groups differently.
    w = torch.arange(32, dtype=torch.float32).view(2, 4, 2, 2)
    mask = call(nm_prune_mask, w, 2, 4)
    expected = torch.tensor([False, False, True, True]).repeat(8).view(2, 4, 2, 2)
    assert isinstance(mask, torch.Tensor) and torch.equal(mask, expected), (
        _("nm_prune_mask(torch.arange(32.).view(2, 4, 2, 2), 2, 4) returned "
          "{mask_rows!r} (as "
          "weight.flatten(1)); expected {expected_rows}: groups are 4 "
          "consecutive entries of weight.flatten(1), whose rows run over (in, kh, kw).").format(
            mask_rows=mask.int().flatten(1).tolist() if isinstance(mask, torch.Tensor) else mask,
            expected_rows=expected.int().flatten(1).tolist()))


@pytest.mark.exercise("nm_prune_mask", points=3, check="tail group", weight=1)
@given(nm=nm_pairs, rows=st.integers(1, 5), width=st.integers(1, 30), dtype=float_dtypes,
       seed=st.integers(0, 2**16))
@settings(max_examples=60)
def test_nm_mask_tail_group(nm_prune_mask, nm, rows, width, dtype, seed):
    n, m = nm
    if width % m == 0:
        width += 1 if m > 1 else 0
    w = random_tensor((rows, width), dtype, seed)
    mask = call(nm_prune_mask, w, n, m)
    assert_nm_groups(w, mask, n, m, _("nm_prune_mask(w of shape {rows_width}, n={n}, m={m})").format(
                                        rows_width=(rows, width), n=n, m=m))


@pytest.mark.exercise("nm_prune_mask", points=3, check="tail group", weight=1)
def test_nm_mask_tail_known_values(nm_prune_mask):
    w = torch.tensor([[0.9, 0.1, 0.2, 0.3, 0.05, -0.04, 0.03]])
    mask = call(nm_prune_mask, w, 2, 4)
    expected = torch.tensor([[True, False, False, True, True, True, False]])
    assert isinstance(mask, torch.Tensor) and torch.equal(mask, expected), (
        _("nm_prune_mask(w={w_list}, 2, 4) returned "
          "{mask_value!r}; expected "
          "{expected_list}: the tail group (entries 4-6, 3 entries) keeps its 2 "
          "largest |w|.").format(
            w_list=w.tolist(),
            mask_value=mask.int().tolist() if isinstance(mask, torch.Tensor) else mask,
            expected_list=expected.int().tolist()))
    short = torch.tensor([[0.2, -0.7, 0.1]])
    mask = call(nm_prune_mask, short, 2, 4)
    assert isinstance(mask, torch.Tensor) and torch.equal(mask, torch.tensor([[True, True, False]])), (
        _("nm_prune_mask(w={short_list}, 2, 4) returned "
          "{mask_value!r}; expected "
          "[[1, 1, 0]]: a row narrower than m is one short group.").format(
            short_list=short.tolist(),
            mask_value=mask.int().tolist() if isinstance(mask, torch.Tensor) else mask))


@pytest.mark.exercise("nm_prune_mask", points=3, check="edge cases", weight=1)
@given(m=st.integers(1, 8), shape=st.tuples(st.integers(1, 4), st.integers(1, 17)),
       value=st.sampled_from([0.0, 1.0, -2.5]))
@settings(max_examples=30)
def test_nm_mask_edges(nm_prune_mask, m, shape, value):
    w = torch.full(shape, value)
    keep_all = call(nm_prune_mask, w, m, m)
    assert isinstance(keep_all, torch.Tensor) and bool(keep_all.all()), (
        _("nm_prune_mask(torch.full({shape}, {value}), n={m}, m={m}) pruned something; n = m "
          "keeps every weight.").format(shape=shape, value=value, m=m))
    prune_all = call(nm_prune_mask, w, 0, m)
    assert isinstance(prune_all, torch.Tensor) and not bool(prune_all.any()), (
        _("nm_prune_mask(torch.full({shape}, {value}), n=0, m={m}) kept something; n = 0 "
          "prunes every weight.").format(shape=shape, value=value, m=m))
    n = max(1, m // 2)
    ties = call(nm_prune_mask, w, n, m)
    assert_nm_groups(w, ties, n, m, _("nm_prune_mask(torch.full({shape}, {value}) (all tied), "
                       "n={n}, m={m})").format(shape=shape, value=value, n=n, m=m))


@pytest.mark.exercise("nm_prune_mask", points=3, check="errors", weight=1)
def test_nm_mask_errors(nm_prune_mask):
    w = torch.randn(4, 8)
    for n, m in ((-1, 4), (5, 4), (3, 2)):
        expect_value_error(nm_prune_mask, w, n, m, argument="n")
    expect_value_error(nm_prune_mask, w, 0, 0, argument="m")
    expect_value_error(nm_prune_mask, torch.randn(8), 2, 4, argument="weight")
    expect_value_error(nm_prune_mask, torch.tensor(1.0), 1, 1, argument="weight")
