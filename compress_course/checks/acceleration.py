"""Visible checks of lesson 05 (acceleration).

``fuse_conv_bn``, ``ring_allreduce``, ``average_gradients`` (run in a real 2- or 3-process
gloo group through ``compress_course.parallel``) and ``amp_train_step``. The helpers
here (reference computations, the scaler spy) are shared with the hidden checks.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from . import CheckFailure, call, describe, expect, visible_check

__all__ = ["check_fuse_conv_bn", "check_ring_allreduce", "check_average_gradients",
           "check_amp_train_step", "random_conv_bn", "reference_conv_bn", "RecordingScaler",
           "reference_amp_step", "ring_send_bound", "average_gradients_errors", "run_scenario",
           "observe_amp_step", "launch_average_gradients"]


# ----------------------------------------------------------------------------- fusion


def random_conv_bn(in_channels: int, out_channels: int, kernel: int, stride: int = 1,
                   padding: int = 0, bias: bool = True, eps: float = 1e-5, seed: int = 0,
                   dtype: torch.dtype = torch.float32) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    """A conv and an eval-mode BatchNorm2d with random weights and running statistics."""
    generator = torch.Generator().manual_seed(seed)
    conv = nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=padding,
                     bias=bias).to(dtype)
    bn = nn.BatchNorm2d(out_channels, eps=eps).to(dtype)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator, dtype=dtype))
        if bias:
            conv.bias.copy_(torch.randn(out_channels, generator=generator, dtype=dtype))
        bn.weight.copy_(torch.randn(out_channels, generator=generator, dtype=dtype))
        bn.bias.copy_(torch.randn(out_channels, generator=generator, dtype=dtype))
        bn.running_mean.copy_(torch.randn(out_channels, generator=generator, dtype=dtype))
        bn.running_var.copy_(torch.rand(out_channels, generator=generator, dtype=dtype) * 2
                             + 0.05)
    return conv.eval(), bn.eval()


def reference_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d, x: torch.Tensor) -> torch.Tensor:
    """``bn(conv(x))`` with the BatchNorm in eval mode (running statistics)."""
    was_training = bn.training
    bn.eval()
    with torch.no_grad():
        out = bn(conv(x))
    bn.train(was_training)
    return out


def fusion_error(fuse_conv_bn, conv, bn, x) -> str | None:
    """None when ``fuse_conv_bn(conv, bn)`` reproduces ``bn(conv(x))``; else the reason."""
    expected = reference_conv_bn(conv, bn, x)
    fused = call(fuse_conv_bn, conv, bn)
    what = f"fuse_conv_bn({conv!r}, {bn!r})"
    if not isinstance(fused, nn.Conv2d):
        return f"{what} returned {describe(fused)}; expected one nn.Conv2d."
    with torch.no_grad():
        try:
            got = fused(x)
        except Exception as error:  # noqa: BLE001 - explained to the learner
            return f"the conv returned by {what} failed on {describe(x)}: {error}"
    if got.shape != expected.shape:
        return (f"the conv returned by {what} maps {describe(x)} to shape {tuple(got.shape)}; "
                f"expected {tuple(expected.shape)} (keep stride and padding).")
    scale = expected.abs().max().clamp_min(1e-12)
    error = ((got - expected).abs().max() / scale).item()
    tolerance = 1e-5 if x.dtype == torch.float32 else 1e-10
    if not error <= tolerance:
        bias_note = "" if conv.bias is not None else " (this conv has no bias)"
        return (f"the conv returned by {what}{bias_note} differs from bn(conv(x)) in eval mode "
                f"by {error:.2e} relative to the largest output; expected <= {tolerance:g}. "
                "Scale each output filter by gamma / sqrt(running_var + eps) and fold the mean, "
                "beta and the conv bias into the new bias.")
    return None


@visible_check
def check_fuse_conv_bn(fuse_conv_bn) -> int:
    cases = [(3, 4, 3, 1, 1, True, 1e-5), (2, 5, 3, 1, 0, False, 1e-5),
             (4, 6, 1, 2, 0, True, 0.1), (1, 3, 5, 2, 2, False, 1e-3)]
    for seed, (c_in, c_out, k, stride, padding, bias, eps) in enumerate(cases):
        conv, bn = random_conv_bn(c_in, c_out, k, stride, padding, bias, eps, seed=seed)
        x = torch.randn(2, c_in, 9, 9, generator=torch.Generator().manual_seed(seed))
        problem = fusion_error(fuse_conv_bn, conv, bn, x)
        expect(problem is None, problem or "")
    return len(cases)


# ------------------------------------------------------------------------ all-reduce


def ring_send_bound(numel: int, workers: int) -> int:
    """Most elements one worker sends in a ring all-reduce: ``2 (N - 1) ceil(numel / N)``."""
    return 2 * (workers - 1) * math.ceil(numel / workers)


def ring_allreduce_error(ring_allreduce, tensors: list[torch.Tensor]) -> str | None:
    """None when ``ring_allreduce(tensors)`` is right; else a sentence saying what is wrong."""
    n, numel = len(tensors), tensors[0].numel()
    what = f"ring_allreduce({n} workers' {describe(tensors[0])})"
    result = call(ring_allreduce, tensors)
    if not (isinstance(result, tuple) and len(result) == 2):
        return f"{what} returned {describe(result)}; expected a tuple (results, elements_sent)."
    outputs, sent = result
    if not isinstance(outputs, (list, tuple)) or len(outputs) != n:
        return f"{what} returned {describe(outputs)} as results; expected a list of {n} tensors."
    expected = torch.stack([t.double() for t in tensors]).sum(0)
    for worker, out in enumerate(outputs):
        if not isinstance(out, torch.Tensor) or out.shape != tensors[0].shape:
            return (f"{what}: worker {worker}'s result is {describe(out)}; expected a tensor of "
                    f"shape {tuple(tensors[0].shape)}.")
        if out.dtype != tensors[0].dtype:
            return (f"{what}: worker {worker}'s result has dtype {out.dtype}; expected "
                    f"{tensors[0].dtype} like the inputs.")
        if tensors[0].dtype.is_floating_point:
            good = torch.allclose(out.double(), expected, rtol=1e-5, atol=1e-5)
        else:
            good = torch.equal(out.double(), expected)
        if not good:
            wrong = (out.double() - expected).abs().flatten().argmax().item()
            return (f"{what}: worker {worker}'s result at flat index {wrong} is "
                    f"{out.flatten()[wrong].item():.6g}; expected the sum over workers "
                    f"{expected.flatten()[wrong].item():.6g}.")
    for a in range(n):
        for b in range(a + 1, n):
            if outputs[a].data_ptr() == outputs[b].data_ptr() and numel > 0:
                return (f"{what}: workers {a} and {b} return the same tensor object; each "
                        "worker must hold its own copy of the result.")
    if not isinstance(sent, int) or isinstance(sent, bool):
        return f"{what} returned elements_sent={sent!r}; expected a Python int."
    bound = ring_send_bound(numel, n)
    lower = 2 * (n - 1) * (numel // n)
    if not lower <= sent <= bound:
        return (f"{what} reported that each worker sent {sent} elements; a ring sends "
                f"between 2(N-1)*floor(numel/N) = {lower} and 2(N-1)*ceil(numel/N) = {bound} "
                f"(N - 1 chunks in the reduce-scatter, N - 1 in the all-gather).")
    return None


@visible_check
def check_ring_allreduce(ring_allreduce) -> int:
    cases = [(1, (5,)), (2, (6,)), (3, (10,)), (4, (2, 3)), (5, (3,)), (8, (17,))]
    for n, shape in cases:
        generator = torch.Generator().manual_seed(n)
        tensors = [torch.randint(-9, 10, shape, generator=generator) for _ in range(n)]
        problem = ring_allreduce_error(ring_allreduce, tensors)
        expect(problem is None, problem or "")
    tensors = [torch.randn(7, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    problem = ring_allreduce_error(ring_allreduce, tensors)
    expect(problem is None, problem or "")
    return len(cases) + 1


# ---------------------------------------------------------------- average_gradients


def average_gradients_errors(results: list[dict], world_size: int, seed: int = 0) -> str | None:
    """Compare ``parallel.gradient_worker`` results with the mean of the ranks' gradients.

    The reference is computed here, in one process, from each rank's shard
    (``parallel.local_gradients``), independently of any all-reduce.
    """
    from .. import parallel

    local = [parallel.local_gradients(rank, seed) for rank in range(world_size)]
    mean = [torch.stack(grads).mean(0) for grads in zip(*local, strict=True)]
    names = [name for name, _ in parallel.tiny_classifier(seed).named_parameters()]
    for rank, result in enumerate(results):
        if result["params_changed"]:
            return (f"average_gradients(model) on rank {rank} of {world_size} changed the "
                    "parameters; it must only average the gradients (p.grad).")
        for name, got, expected, own in zip(names, result["reduced"], mean, local[rank],
                                            strict=True):
            if got is None:
                return (f"after average_gradients(model) on rank {rank} of {world_size}, "
                        f"{name}.grad is None; expected the mean gradient.")
            if not torch.allclose(got, expected, rtol=1e-5, atol=1e-6):
                hint = ""
                if torch.allclose(got, expected * world_size, rtol=1e-5, atol=1e-6):
                    hint = " You returned the SUM: divide by the world size."
                elif torch.allclose(got, own, rtol=1e-5, atol=1e-6):
                    hint = " The gradient is unchanged: all-reduce it across the ranks."
                elif torch.allclose(got, own / world_size, rtol=1e-5, atol=1e-6):
                    hint = " You divided without all-reducing first."
                elif world_size != 2 and torch.allclose(got, expected * world_size / 2,
                                                        rtol=1e-5, atol=1e-6):
                    hint = " Divide by dist.get_world_size(), not by 2."
                error = (got - expected).abs().max().item()
                return (f"after average_gradients(model) on rank {rank} of {world_size}, "
                        f"{name}.grad differs from the mean of the ranks' gradients by "
                        f"{error:.3g}.{hint}")
        ddp_error = max((a - b).abs().max().item()
                        for a, b in zip(result["reduced"], result["ddp"], strict=True))
        if ddp_error > 1e-5:
            return (f"rank {rank}: average_gradients differs from DistributedDataParallel's "
                    f"gradients by {ddp_error:.3g}.")
    return None


def run_scenario(fn, scenario, *args):
    """``scenario(fn, *args)`` where ``fn`` lives: in the grader's sandbox, or right here.

    The hidden checks get a sandboxed stand-in for the learner's function (it has
    ``run_with``); the notebook gets the function itself.
    """
    run_with = getattr(fn, "run_with", None)
    if run_with is None:
        return scenario(fn, *args)
    try:
        return run_with(scenario, *args)
    except RuntimeError as error:  # the sandbox rebuilds a CheckFailure by its name
        prefix = f"{CheckFailure.__name__}: "
        if str(error).startswith(prefix):
            raise CheckFailure(str(error)[len(prefix):]) from None
        raise


def run_average_gradients(average_gradients, world_size: int, seed: int = 0) -> list[dict]:
    """Run ``average_gradients`` inside a real ``world_size``-process gloo group.

    Runs where the function lives (see ``run_scenario``): the launched processes rebuild
    it there with ``parallel.portable``.
    """
    return run_scenario(average_gradients, launch_average_gradients, world_size, seed)


def launch_average_gradients(average_gradients, world_size: int, seed: int = 0) -> list[dict]:
    """``parallel.gradient_worker`` on ``world_size`` gloo ranks with ``average_gradients``."""
    from .. import parallel

    try:
        return parallel.launch(parallel.gradient_worker, world_size,
                               args=(parallel.portable(average_gradients), seed),
                               backend="gloo", timeout=150, collective_timeout=30)
    except parallel.WorkerError as error:
        first = str(error).splitlines()[0]
        if "NotImplementedError" in first:
            raise CheckFailure("average_gradients is not implemented yet: replace "
                               "`raise NotImplementedError()` with your code.") from None
        raise CheckFailure(f"average_gradients(model) in a {world_size}-process gloo group: "
                           f"{first}") from None
    except parallel.LaunchError as error:
        raise CheckFailure(f"could not run average_gradients in a {world_size}-process gloo "
                           f"group: {error}") from None
    except ValueError as error:
        raise CheckFailure(str(error)) from None


@visible_check
def check_average_gradients(average_gradients) -> int:
    world_size = 3  # not 2, so that dividing by a hard-coded 2 shows
    results = run_average_gradients(average_gradients, world_size)
    problem = average_gradients_errors(results, world_size)
    expect(problem is None, problem or "")
    return world_size


# --------------------------------------------------------------------------- AMP


class RecordingScaler(torch.amp.GradScaler):
    """A ``torch.amp.GradScaler`` that records which of its methods were called."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls: list[str] = []

    def scale(self, outputs):
        self.calls.append("scale")
        return super().scale(outputs)

    def step(self, optimizer, *args, **kwargs):
        self.calls.append("step")
        return super().step(optimizer, *args, **kwargs)

    def update(self, new_scale=None):
        self.calls.append("update")
        return super().update(new_scale)


def reference_amp_step(model, x, y, lr: float, device_type: str, dtype) -> float:
    """The expected step on a copy-able setup: SGD(lr), autocast forward, fp32 update."""
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type, dtype=dtype):
        loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def amp_case(seed: int, batch: int, features: int, classes: int):
    """The model (MLP features-32-classes), batch and SGD learning rate of one AMP case."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(features, 32), nn.ReLU(), nn.Linear(32, classes))
    x = torch.randn(batch, features)
    y = torch.randint(0, classes, (batch,))
    return model, x, y, 0.1


def observe_amp_step(amp_train_step, seed: int, batch: int, features: int, classes: int,
                     scaler_enabled: bool) -> dict:
    """Run one ``amp_train_step`` on CPU/bf16 and record what it did.

    Runs where the function lives (``run_scenario``); returns plain data: the returned loss
    (or its type's name), the dtype the first Linear produced, the scaler methods called,
    and the parameters after the step. The model starts with stale gradients.
    """
    model, x, y, lr = amp_case(seed, batch, features, classes)
    for p in model.parameters():  # stale gradients from an earlier step
        p.grad = torch.full_like(p, 3.0)
    seen_dtypes: list[str] = []
    hook = model[0].register_forward_hook(lambda m, i, o: seen_dtypes.append(str(o.dtype)))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scaler = RecordingScaler("cpu", enabled=scaler_enabled, init_scale=2.0 ** 8)
    try:
        loss = call(amp_train_step, model, x, y, optimizer, scaler, "cpu", torch.bfloat16,
                    modifies=(0, 3, 4))
    finally:
        hook.remove()
    return {"loss": loss if isinstance(loss, float) else None,
            "loss_type": type(loss).__name__, "dtypes": seen_dtypes,
            "calls": list(scaler.calls),
            "params": {k: v.detach().clone() for k, v in model.named_parameters()}}


def amp_step_error(amp_train_step, seed: int, batch: int, features: int, classes: int,
                   scaler_enabled: bool) -> str | None:
    """None when one ``amp_train_step`` on CPU/bf16 behaves; else the reason."""
    seen = run_scenario(amp_train_step, observe_amp_step, seed, batch, features, classes,
                        scaler_enabled)
    model, x, y, lr = amp_case(seed, batch, features, classes)
    expected_loss = reference_amp_step(model, x, y, lr, "cpu", torch.bfloat16)
    what = (f"amp_train_step(MLP {features}-32-{classes}, x {tuple(x.shape)}, y, SGD, "
            f"GradScaler(enabled={scaler_enabled}), 'cpu', torch.bfloat16)")
    if seen["loss"] is None:
        return f"{what} returned a {seen['loss_type']}; expected a Python float (loss.item())."
    if seen["dtypes"][:1] != ["torch.bfloat16"]:
        got = seen["dtypes"][0] if seen["dtypes"] else "nothing (the model was not called)"
        return (f"{what}: the first Linear produced {got}; under torch.autocast('cpu', "
                "dtype=torch.bfloat16) it produces torch.bfloat16. Run the forward pass inside "
                "the autocast context.")
    calls = seen["calls"]
    if calls[:1] != ["scale"] or "step" not in calls or "update" not in calls:
        return (f"{what} called the scaler's methods {calls}; expected "
                "scaler.scale(loss).backward(), scaler.step(optimizer), scaler.update().")
    if abs(seen["loss"] - expected_loss) > 1e-3 * max(1.0, abs(expected_loss)):
        return (f"{what} returned loss {seen['loss']:.6g}; expected the cross-entropy "
                f"{expected_loss:.6g}.")
    for name, expected in model.named_parameters():
        got = seen["params"][name]
        if not torch.allclose(got, expected, rtol=1e-3, atol=1e-4):
            return (f"{what}: parameter {name} after the step differs from one SGD step on the "
                    f"fresh gradient by {(got - expected).abs().max().item():.3g}. Zero the old "
                    "gradients first (optimizer.zero_grad()), then backward through "
                    "scaler.scale(loss) and step through scaler.step(optimizer).")
    return None


@visible_check
def check_amp_train_step(amp_train_step) -> int:
    cases = [(0, 16, 10, 4, False), (1, 9, 7, 3, True)]
    for case in cases:
        problem = amp_step_error(amp_train_step, *case)
        expect(problem is None, problem or "")
    return len(cases)
