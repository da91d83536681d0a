"""Visible checks of lesson 05 (acceleration).

``fuse_conv_bn``, ``ring_allreduce`` (its results and the message log it records),
``average_gradients`` (run in a real 2- or 3-process gloo group through
``compress_course.parallel``), ``amp_train_step`` and ``top_operators`` (self-time shares
from a profile whose timings are known). The helpers here (reference
computations, the ring's schedule, the scaler spy) are shared with the hidden checks, and
each check is split into the same named parts as the hidden checks' points.
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any

import torch
from torch import nn

from ..i18n import _
from . import (
    CheckFailure,
    call,
    describe,
    expect,
    expect_value_error,
    not_implemented,
    part,
    visible_check,
)

__all__ = ["check_fuse_conv_bn", "check_ring_allreduce", "check_average_gradients",
           "check_amp_train_step", "random_conv_bn", "reference_conv_bn", "RecordingScaler",
           "reference_amp_step", "ring_send_bound", "ring_schedule", "ring_log_error",
           "average_gradients_errors", "average_gradients_problems",
           "AVERAGE_GRADIENTS_PARTS", "run_scenario", "observe_amp_step",
           "launch_average_gradients", "amp_clip_error", "check_top_operators", "reference_top_operators",
           "top_operators_error", "TOP_OPERATOR_CASES", "TOP_OPERATOR_EDGE_CASES"]


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
        return _("{what} returned {fused}; expected one nn.Conv2d.").format(
                 what=what, fused=describe(fused))
    with torch.no_grad():
        try:
            got = fused(x)
        except Exception as error:  # noqa: BLE001 - explained to the learner
            return _("the conv returned by {what} failed on {x}: {error}").format(
                     what=what, x=describe(x), error=error)
    if got.shape != expected.shape:
        return (_("the conv returned by {what} maps {x} to shape {got_shape}; expected "
                  "{expected_shape} (keep stride and padding).").format(
                  what=what, x=describe(x), got_shape=tuple(got.shape),
                  expected_shape=tuple(expected.shape)))
    scale = expected.abs().max().clamp_min(1e-12)
    error = ((got - expected).abs().max() / scale).item()
    tolerance = 1e-5 if x.dtype == torch.float32 else 1e-10
    if not error <= tolerance:
        bias_note = "" if conv.bias is not None else _(" (this conv has no bias)")
        return (_("the conv returned by {what}{bias_note} differs from bn(conv(x)) in eval "
                  "mode by {error:.2e} relative to the largest output; expected <= "
                  "{tolerance:g}. Scale each output filter by gamma / sqrt(running_var + eps) "
                  "and fold the mean, beta and the conv bias into the new bias.").format(
                  what=what, bias_note=bias_note, error=error, tolerance=tolerance))
    return None


def fusion_edge_error(fuse_conv_bn) -> str | None:
    """None when ``fuse_conv_bn`` handles the edge cases the exercise text names.

    A BatchNorm left in training mode (the running statistics must still be used), a
    float64 pair (the fused conv keeps the dtype), and a new layer that shares no storage
    with ``conv`` and keeps its stride and padding.
    """
    conv, bn = random_conv_bn(3, 4, 3, stride=2, padding=1, bias=True, seed=7)
    bn.train()
    x = torch.randn(2, 3, 7, 7, generator=torch.Generator().manual_seed(8))
    expected = reference_conv_bn(conv, bn, x)
    what = _("fuse_conv_bn(conv, bn with bn.training=True)")
    fused = call(fuse_conv_bn, conv, bn)
    if not isinstance(fused, nn.Conv2d):
        return _("{what} returned {fused}; expected one nn.Conv2d.").format(
                 what=what, fused=describe(fused))
    if fused.bias is None:
        return _("{what} returned a conv without a bias; it needs one (beta - mean * scale).").format(
                 what=what)
    if fused.stride != conv.stride or fused.padding != conv.padding:
        return (_("{what} returned a conv with stride {fused_stride} and padding "
                  "{fused_padding}; expected {conv_stride} and {conv_padding} like conv.").format(
                  what=what, fused_stride=fused.stride, fused_padding=fused.padding,
                  conv_stride=conv.stride, conv_padding=conv.padding))
    if fused.weight.data_ptr() == conv.weight.data_ptr():
        return _("{what} returned a conv that shares conv's weight tensor; return a new layer.").format(
                 what=what)
    with torch.no_grad():
        got = fused(x)
    error = ((got - expected).abs().max() / expected.abs().max()).item()
    if not error <= 1e-5:
        return (_("{what} differs from bn(conv(x)) in eval mode by {error:.2e}; use "
                  "bn.running_mean and bn.running_var whatever bn's mode, never batch "
                  "statistics.").format(what=what, error=error))
    conv64, bn64 = random_conv_bn(2, 3, 3, bias=False, seed=3, dtype=torch.float64)
    x64 = torch.randn(2, 2, 7, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    fused64 = call(fuse_conv_bn, conv64, bn64)
    if isinstance(fused64, nn.Conv2d) and fused64.weight.dtype != torch.float64:
        return (_("fuse_conv_bn(a float64 conv, a float64 bn) returned a conv of dtype "
                  "{fused64_weight_dtype}; expected float64, the dtype of conv.").format(
                  fused64_weight_dtype=fused64.weight.dtype))
    return fusion_error(fuse_conv_bn, conv64, bn64, x64)


@visible_check
def check_fuse_conv_bn(fuse_conv_bn) -> int:
    cases = [(3, 4, 3, 1, 1, True, 1e-5), (2, 5, 3, 1, 0, False, 1e-5),
             (4, 6, 1, 2, 0, True, 0.1), (1, 3, 5, 2, 2, False, 1e-3)]
    with part("main property"):
        for seed, (c_in, c_out, k, stride, padding, bias, eps) in enumerate(cases):
            conv, bn = random_conv_bn(c_in, c_out, k, stride, padding, bias, eps, seed=seed)
            x = torch.randn(2, c_in, 9, 9, generator=torch.Generator().manual_seed(seed))
            problem = fusion_error(fuse_conv_bn, conv, bn, x)
            expect(problem is None, problem or "")
    with part("edge cases"):
        problem = fusion_edge_error(fuse_conv_bn)
        expect(problem is None, problem or "")
    return len(cases) + 2


# ------------------------------------------------------------------------ all-reduce


def ring_send_bound(numel: int, workers: int) -> int:
    """Most elements one worker sends in a ring all-reduce: ``2 (N - 1) ceil(numel / N)``."""
    return 2 * (workers - 1) * math.ceil(numel / workers)


def ring_schedule(workers: int) -> list[tuple[int, int, int, int]]:
    """The ring's messages ``(step, src, dst, chunk)``, in step then sender order.

    Steps ``0 .. N-2`` are the reduce-scatter (worker ``i`` sends chunk ``(i - s) mod N``),
    steps ``N-1 .. 2N-3`` the all-gather (at its step ``s``, chunk ``(i + 1 - s) mod N``);
    every message goes to the right neighbour ``(i + 1) mod N``.
    """
    n = workers
    schedule = []
    for step in range(2 * (n - 1)):
        for src in range(n):
            if step < n - 1:
                chunk = (src - step) % n
            else:
                chunk = (src + 1 - (step - (n - 1))) % n
            schedule.append((step, src, (src + 1) % n, chunk))
    return schedule


def expected_payload(pieces: list[torch.Tensor], step: int, src: int) -> torch.Tensor:
    """What worker ``src`` sends at ``step``, given ``pieces``, one chunk of every worker's
    tensor (float64): in the reduce-scatter, the sum of that chunk over workers ``src,
    src - 1, ..., src - step`` (its own copy after the additions so far); in the all-gather,
    the chunk's complete sum."""
    n = len(pieces)
    if step < n - 1:
        return sum(pieces[(src - k) % n] for k in range(step + 1))
    return sum(pieces)


def _payload_close(got: torch.Tensor, expected: torch.Tensor, integer: bool) -> bool:
    if integer:
        return torch.equal(got.double(), expected)
    return torch.allclose(got.double(), expected, rtol=1e-5, atol=1e-5)


def ring_log_error(tensors: list[torch.Tensor], log: Any, sent: Any) -> str | None:
    """None when ``log`` (filled by ``ring_allreduce(tensors, log=log)``) records the ring's
    messages with the right chunks and payloads, and ``sent`` is the most elements one
    worker sent according to it; else a sentence saying what is wrong."""
    n, numel = len(tensors), tensors[0].numel()
    what = _("ring_allreduce({n} workers' {tensors}, log=[])").format(
             n=n, tensors=describe(tensors[0]))
    schedule = ring_schedule(n)
    if not isinstance(log, list):
        return _("{what}: log came back as {log}; append to the list you were given.").format(
                 what=what, log=describe(log))
    if len(log) != len(schedule):
        return (_("{what} appended {n_log} records to log; expected {n_schedule}: one per "
                  "worker in each of the 2(N-1) = {steps} steps (N - 1 reduce-scatter steps, "
                  "then N - 1 all-gather steps), empty chunks included.").format(
                  what=what, n_log=len(log), n_schedule=len(schedule), steps=2 * (n - 1)))
    records = {}
    for record in log:
        if not (isinstance(record, (tuple, list)) and len(record) == 5
                and all(isinstance(v, int) and not isinstance(v, bool) for v in record[:4])
                and isinstance(record[4], torch.Tensor)):
            return (_("{what} logged {record}; expected a tuple (step, src, dst, chunk, "
                      "payload) of four ints and the tensor sent.").format(
                      what=what, record=describe(record)))
        step, src = record[0], record[1]
        if (step, src) in records:
            return (_("{what} logged two messages from worker {src} at step {step}; each "
                      "worker sends exactly one message per step, and steps are numbered "
                      "across both phases (the all-gather's first step is N - 1 = {first_step}).").format(
                      what=what, src=src, step=step, first_step=n - 1))
        records[(step, src)] = record
    integer = not tensors[0].dtype.is_floating_point
    chunk_sizes = [c.numel() for c in torch.empty(numel).tensor_split(n)]
    # chunks[c][w]: chunk c of worker w's tensor, split once for every record below
    chunks = list(zip(*(t.detach().flatten().double().tensor_split(n) for t in tensors),
                      strict=True))
    per_worker = [0] * n
    for step, src, dst, chunk in schedule:
        phase = "reduce-scatter" if step < n - 1 else "all-gather"
        phase_step = step if step < n - 1 else step - (n - 1)
        record = records.get((step, src))
        if record is None:
            logged_steps = sorted({s for s, _ in records})
            return (_("{what}: no message from worker {src} at step {step} in the log (steps "
                      "logged: {logged_steps}); expected steps 0..{last_step}, numbered across "
                      "both phases.").format(
                      what=what, src=src, step=step, logged_steps=logged_steps[:8],
                      last_step=2 * n - 3))
        _step, _src, got_dst, got_chunk, payload = record
        where = _("at step {step} ({phase} step {phase_step}), worker {src}").format(
                  step=step, phase=phase, phase_step=phase_step, src=src)
        if got_dst != dst:
            return (_("{what}: {where} sent to worker {got_dst}; in a ring every worker sends "
                      "only to its right neighbour (i + 1) mod N = {dst}.").format(
                      what=what, where=where, got_dst=got_dst, dst=dst))
        if got_chunk != chunk:
            rule = "(i - s) mod N" if step < n - 1 else "(i + 1 - s) mod N"
            return (_("{what}: {where} sent chunk {got_chunk}; the schedule sends chunk {rule} "
                      "= {chunk}.").format(
                      what=what, where=where, got_chunk=got_chunk, rule=rule, chunk=chunk))
        if payload.numel() != chunk_sizes[chunk]:
            return (_("{what}: {where} sent {payload_numel} elements as chunk {chunk}; "
                      "torch.tensor_split(flat, {n}) gives chunk {chunk} {chunk_sizes}.").format(
                      what=what, where=where, payload_numel=payload.numel(), chunk=chunk, n=n,
                      chunk_sizes=chunk_sizes[chunk]))
        expected = expected_payload(list(chunks[chunk]), step, src)
        if not _payload_close(payload.flatten(), expected, integer):
            if step < n - 1:
                owners = ", ".join(str((src - k) % n) for k in range(step + 1))
                why = (_("the sum of chunk {chunk} over workers {owners} (its own copy plus "
                         "what it received so far). Send and log a copy (.clone()) of the "
                         "chunk as it was when sent, taken before anyone adds.").format(
                         chunk=chunk, owners=owners))
            else:
                why = (_("the complete sum of chunk {chunk}: after the reduce-scatter worker "
                         "(c - 1) mod N = {owner} owns it, and the all-gather passes it on.").format(
                         chunk=chunk, owner=(chunk - 1) % n))
            return (_("{what}: {where} sent chunk {chunk} = {payload}; expected {expected}, "
                      "{why}").format(
                      what=what, where=where, chunk=chunk, payload=describe(payload),
                      expected=describe(expected), why=why))
        per_worker[src] += payload.numel()
    expected_sent = max(per_worker, default=0)
    if sent != expected_sent:
        return (_("{what} returned elements_sent={sent!r}, but its log says the workers sent "
                  "{per_worker} elements; expected the largest, {expected_sent}.").format(
                  what=what, sent=sent, per_worker=per_worker, expected_sent=expected_sent))
    return None


def ring_allreduce_error(ring_allreduce, tensors: list[torch.Tensor],
                         with_log: bool = False) -> str | None:
    """None when ``ring_allreduce(tensors)`` is right; else a sentence saying what is wrong.

    With ``with_log``, also passes ``log=[]`` and checks the messages it records
    (``ring_log_error``).
    """
    n, numel = len(tensors), tensors[0].numel()
    what = _("ring_allreduce({n} workers' {tensors})").format(n=n, tensors=describe(tensors[0]))
    log: list = []
    result = call(ring_allreduce, tensors, log=log) if with_log else call(ring_allreduce, tensors)
    if not (isinstance(result, tuple) and len(result) == 2):
        return _("{what} returned {result}; expected a tuple (results, elements_sent).").format(
                 what=what, result=describe(result))
    outputs, sent = result
    if not isinstance(outputs, (list, tuple)) or len(outputs) != n:
        return _("{what} returned {outputs} as results; expected a list of {n} tensors.").format(
                 what=what, outputs=describe(outputs), n=n)
    expected = torch.stack([t.double() for t in tensors]).sum(0)
    for worker, out in enumerate(outputs):
        if not isinstance(out, torch.Tensor) or out.shape != tensors[0].shape:
            return (_("{what}: worker {worker}'s result is {out}; expected a tensor of shape "
                      "{tensors_shape}.").format(
                      what=what, worker=worker, out=describe(out),
                      tensors_shape=tuple(tensors[0].shape)))
        if out.dtype != tensors[0].dtype:
            return (_("{what}: worker {worker}'s result has dtype {out_dtype}; expected "
                      "{tensors_dtype} like the inputs.").format(
                      what=what, worker=worker, out_dtype=out.dtype,
                      tensors_dtype=tensors[0].dtype))
        if tensors[0].dtype.is_floating_point:
            good = torch.allclose(out.double(), expected, rtol=1e-5, atol=1e-5)
        else:
            good = torch.equal(out.double(), expected)
        if not good:
            wrong = (out.double() - expected).abs().flatten().argmax().item()
            return (_("{what}: worker {worker}'s result at flat index {wrong} is {out:.6g}; "
                      "expected the sum over workers {expected:.6g}.").format(
                      what=what, worker=worker, wrong=wrong, out=out.flatten()[wrong].item(),
                      expected=expected.flatten()[wrong].item()))
    for a in range(n):
        for b in range(a + 1, n):
            if outputs[a].data_ptr() == outputs[b].data_ptr() and numel > 0:
                return (_("{what}: workers {a} and {b} return the same tensor object; each "
                          "worker must hold its own copy of the result.").format(
                          what=what, a=a, b=b))
    if not isinstance(sent, int) or isinstance(sent, bool):
        return _("{what} returned elements_sent={sent!r}; expected a Python int.").format(
                 what=what, sent=sent)
    bound = ring_send_bound(numel, n)
    lower = 2 * (n - 1) * (numel // n)
    if not lower <= sent <= bound:
        return (_("{what} reported that each worker sent {sent} elements; a ring sends between "
                  "2(N-1)*floor(numel/N) = {lower} and 2(N-1)*ceil(numel/N) = {bound} (N - 1 "
                  "chunks in the reduce-scatter, N - 1 in the all-gather).").format(
                  what=what, sent=sent, lower=lower, bound=bound))
    if with_log:
        return ring_log_error(tensors, log, sent)
    return None


def ring_inputs(workers: int, shape: tuple[int, ...], integer: bool, seed: int,
                dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    """One random tensor per worker (small integers, or floats of ``dtype``)."""
    generator = torch.Generator().manual_seed(seed)
    if integer:
        return [torch.randint(-50, 50, shape, generator=generator) for _ in range(workers)]
    return [torch.randn(shape, generator=generator, dtype=dtype) for _ in range(workers)]


@visible_check
def check_ring_allreduce(ring_allreduce) -> int:
    cases = 0
    with part("main property"):
        for n, shape, integer in [(2, (6,), True), (3, (10,), True), (4, (2, 3), True),
                                  (3, (7,), False)]:
            problem = ring_allreduce_error(ring_allreduce, ring_inputs(n, shape, integer, n))
            expect(problem is None, problem or "")
            cases += 1
    with part("ring schedule"):
        for n, shape, integer in [(2, (6,), True), (3, (10,), True), (4, (2, 3), False),
                                  (5, (12,), True)]:
            problem = ring_allreduce_error(ring_allreduce, ring_inputs(n, shape, integer, n),
                                           with_log=True)
            expect(problem is None, problem or "")
            cases += 1
    with part("edge cases"):
        for n, shape in [(1, (5,)), (5, (3,)), (8, (17,))]:
            problem = ring_allreduce_error(ring_allreduce, ring_inputs(n, shape, True, n),
                                           with_log=True)
            expect(problem is None, problem or "")
            cases += 1
    return cases


# ---------------------------------------------------------------- average_gradients


AVERAGE_GRADIENTS_PARTS = ("main property", "one collective", "unused parameters")


def average_gradients_problems(results: list[dict], world_size: int,
                               seed: int = 0) -> dict[str, str | None]:
    """Each part of ``average_gradients`` -> the first problem found (None: it passes).

    ``results`` are ``parallel.gradient_worker``'s, one per rank. The references are
    computed here, in one process, from each rank's shard (``parallel.local_gradients``,
    ``parallel.partly_used_gradients``), independently of any all-reduce.
    """
    return {"main property": _main_gradient_problem(results, world_size, seed),
            "one collective": _collective_problem(results, world_size),
            "unused parameters": _unused_gradient_problem(results, world_size, seed)}


def average_gradients_errors(results: list[dict], world_size: int, seed: int = 0) -> str | None:
    """The first problem of any part (see ``average_gradients_problems``), or None."""
    problems = average_gradients_problems(results, world_size, seed)
    return next((problem for problem in problems.values() if problem is not None), None)


def _gradient_mismatch(got, expected, own, world_size) -> str:
    """A hint for a gradient that is not the mean: what it looks like instead."""
    close = functools.partial(torch.allclose, rtol=1e-5, atol=1e-6)
    if close(got, expected * world_size):
        return _(" You returned the SUM: divide by the world size.")
    if close(got, own):
        return _(" The gradient is unchanged: all-reduce it across the ranks.")
    if close(got, own / world_size):
        return _(" You divided without all-reducing first.")
    if world_size != 2 and close(got, expected * world_size / 2):
        return _(" Divide by dist.get_world_size(), not by 2.")
    return ""


def _main_gradient_problem(results, world_size, seed):
    from .. import parallel

    local = [parallel.local_gradients(rank, seed) for rank in range(world_size)]
    mean = [torch.stack(grads).mean(0) for grads in zip(*local, strict=True)]
    names = [name for name, _ in parallel.tiny_classifier(seed).named_parameters()]
    for rank, result in enumerate(results):
        if result["params_changed"]:
            return (_("average_gradients(model) on rank {rank} of {world_size} changed the "
                      "parameters; it must only average the gradients (p.grad).").format(
                      rank=rank, world_size=world_size))
        for name, got, expected, own in zip(names, result["reduced"], mean, local[rank],
                                            strict=True):
            if got is None:
                return (_("after average_gradients(model) on rank {rank} of {world_size}, "
                          "{name}.grad is None; expected the mean gradient.").format(
                          rank=rank, world_size=world_size, name=name))
            if got.shape != expected.shape:
                return (_("after average_gradients(model) on rank {rank} of {world_size}, "
                          "{name}.grad has shape {got_shape}; expected {expected_shape}, the "
                          "parameter's shape.").format(
                          rank=rank, world_size=world_size, name=name, got_shape=tuple(got.shape),
                          expected_shape=tuple(expected.shape)))
            if not torch.allclose(got, expected, rtol=1e-5, atol=1e-6):
                error = (got - expected).abs().max().item()
                return (_("after average_gradients(model) on rank {rank} of {world_size}, "
                          "{name}.grad differs from the mean of the ranks' gradients by "
                          "{error:.3g}.{hint}").format(
                          rank=rank, world_size=world_size, name=name, error=error,
                          hint=_gradient_mismatch(got, expected, own, world_size)))
        ddp_error = max((a - b).abs().max().item()
                        for a, b in zip(result["reduced"], result["ddp"], strict=True))
        if ddp_error > 1e-5:
            return (_("rank {rank}: average_gradients differs from DistributedDataParallel's "
                      "gradients by {ddp_error:.3g}.").format(rank=rank, ddp_error=ddp_error))
    return None


def _collective_problem(results, world_size):
    from .. import parallel

    parameters = len(list(parallel.tiny_classifier().parameters()))
    for rank, result in enumerate(results):
        calls = result.get("collectives", {})
        if calls != {"all_reduce": 1}:
            made = ", ".join(f"{name} x{count}" for name, count in sorted(calls.items()))
            return _("average_gradients(model) on rank {rank} of {world_size}, for a model with "
                     "{parameters} parameter tensors that all have a gradient, made these "
                     "torch.distributed calls: {made}; expected exactly one dist.all_reduce "
                     "(flatten every gradient into one buffer, all-reduce it once, copy the "
                     "slices back).").format(rank=rank, world_size=world_size,
                                             parameters=parameters, made=made or _("none"))
    return None


def _unused_gradient_problem(results, world_size, seed):
    from .. import parallel

    local = [parallel.partly_used_gradients(rank, seed) for rank in range(world_size)]
    names = [name for name, _ in parallel.PartlyUsed(seed).named_parameters()]
    what = _("average_gradients(model) on rank {rank} of {world_size}, for a model whose layer "
             "`unused` is never called in forward (its parameters' .grad is None on every "
             "rank)")
    for rank, result in enumerate(results):
        outcome = result.get("unused", {})
        if "error" in outcome:
            return _("{what}, raised {error}; expected it to skip the parameters whose .grad "
                     "is None.").format(what=what.format(rank=rank, world_size=world_size),
                                        error=outcome["error"])
        if outcome["params_changed"]:
            return _("{what}, changed the parameters; expected only gradients.").format(
                what=what.format(rank=rank, world_size=world_size))
        for index, (name, got) in enumerate(zip(names, outcome["reduced"], strict=True)):
            grads = [shard[index] for shard in local]
            if grads[rank] is None:
                if got is not None:
                    return _("{what}, left {name}.grad = a tensor (max |value| {largest:.3g}); "
                             "expected None: a gradient that does not exist stays None.").format(
                        what=what.format(rank=rank, world_size=world_size), name=name,
                        largest=got.abs().max().item())
                continue
            expected = torch.stack(grads).mean(0)
            if got is None or got.shape != expected.shape \
                    or not torch.allclose(got, expected, rtol=1e-5, atol=1e-6):
                found = "None" if got is None else \
                    _("shape {shape}").format(shape=tuple(got.shape)) \
                    if got.shape != expected.shape else \
                    _("off by {difference:.3g}").format(
                        difference=(got - expected).abs().max().item())
                return _("{what}, left {name}.grad {found}; expected the mean of the ranks' "
                         "gradients for every parameter that has one.").format(
                    what=what.format(rank=rank, world_size=world_size), name=name, found=found)
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
            raise not_implemented("average_gradients") from None
        raise CheckFailure(_("average_gradients(model) in a {world_size}-process gloo group: "
                             "{first}").format(world_size=world_size, first=first)) from None
    except parallel.LaunchError as error:
        raise CheckFailure(_("could not run average_gradients in a {world_size}-process gloo "
                             "group: {error}").format(world_size=world_size, error=error)) from None
    except ValueError as error:
        raise CheckFailure(str(error)) from None


@visible_check
def check_average_gradients(average_gradients) -> int:
    world_size = 3  # not 2, so that dividing by a hard-coded 2 shows
    problems = None
    with part("main property"):
        results = run_average_gradients(average_gradients, world_size)
        problems = average_gradients_problems(results, world_size)
        expect(problems["main property"] is None, problems["main property"] or "")
    if problems is None:  # the group did not run: the other parts have nothing to check
        return world_size
    with part("one collective"):
        expect(problems["one collective"] is None, problems["one collective"] or "")
    with part("unused parameters"):
        expect(problems["unused parameters"] is None, problems["unused parameters"] or "")
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
    whether every module was in training mode after the call, and the parameters after
    the step. The model starts in eval mode, with stale gradients.
    """
    model, x, y, lr = amp_case(seed, batch, features, classes)
    model.eval()  # the step must put it in training mode
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
            "calls": list(scaler.calls), "training": all(m.training for m in model.modules()),
            "params": {k: v.detach().clone() for k, v in model.named_parameters()}}


def amp_step_problems(amp_train_step, seed: int, batch: int, features: int, classes: int,
                      scaler_enabled: bool) -> dict[str, str | None]:
    """One ``amp_train_step`` on CPU/bf16, judged by part.

    ``"main property"``: training mode, the forward under autocast, the loss returned as a
    float, and the parameters after exactly one step on the fresh gradient.
    ``"loss scaling"``: ``scaler.scale(loss)`` first, then ``scaler.step`` and
    ``scaler.update``. Each value is None when that part holds, else the reason.
    """
    seen = run_scenario(amp_train_step, observe_amp_step, seed, batch, features, classes,
                        scaler_enabled)
    model, x, y, lr = amp_case(seed, batch, features, classes)
    expected_loss = reference_amp_step(model, x, y, lr, "cpu", torch.bfloat16)
    what = (_("amp_train_step(MLP {features}-32-{classes} in eval mode, x {x_shape}, y, SGD, "
              "GradScaler(enabled={scaler_enabled}), 'cpu', torch.bfloat16)").format(
              features=features, classes=classes, x_shape=tuple(x.shape),
              scaler_enabled=scaler_enabled))
    problems: dict[str, str | None] = {"main property": None, "loss scaling": None}
    calls = seen["calls"]
    if calls[:1] != ["scale"] or "step" not in calls or "update" not in calls:
        problems["loss scaling"] = (
            _("{what} called the scaler's methods {calls}; expected "
              "scaler.scale(loss).backward(), scaler.step(optimizer), scaler.update().").format(
              what=what, calls=calls))
    if seen["loss"] is None:
        problems["main property"] = (_("{what} returned a {seen_loss_type}; expected a Python "
                                       "float (loss.item()).").format(
                                       what=what, seen_loss_type=seen['loss_type']))
    elif not seen["training"]:
        problems["main property"] = (_("{what} left the model in eval mode; put it in training "
                                       "mode first (model.train()).").format(what=what))
    elif seen["dtypes"][:1] != ["torch.bfloat16"]:
        got = seen["dtypes"][0] if seen["dtypes"] else _("nothing (the model was not called)")
        problems["main property"] = (
            _("{what}: the first Linear produced {got}; under torch.autocast('cpu', "
              "dtype=torch.bfloat16) it produces torch.bfloat16. Run the forward pass inside "
              "the autocast context.").format(what=what, got=got))
    elif abs(seen["loss"] - expected_loss) > 1e-3 * max(1.0, abs(expected_loss)):
        problems["main property"] = (_("{what} returned loss {seen_loss:.6g}; expected the "
                                       "cross-entropy {expected_loss:.6g}.").format(
                                       what=what, seen_loss=seen['loss'],
                                       expected_loss=expected_loss))
    else:
        for name, expected in model.named_parameters():
            got = seen["params"][name]
            if not torch.allclose(got, expected, rtol=1e-3, atol=1e-4):
                problems["main property"] = (
                    _("{what}: parameter {name} after the step differs from one SGD step on "
                      "the fresh gradient by {difference:.3g}. Zero the old gradients first "
                      "(optimizer.zero_grad()), then backward through scaler.scale(loss) and "
                      "step through scaler.step(optimizer).").format(
                      what=what, name=name, difference=(got - expected).abs().max().item()))
                break
    return problems


def amp_step_error(amp_train_step, seed: int, batch: int, features: int, classes: int,
                   scaler_enabled: bool) -> str | None:
    """None when one ``amp_train_step`` on CPU/bf16 behaves in every part; else the reason."""
    problems = amp_step_problems(amp_train_step, seed, batch, features, classes,
                                 scaler_enabled)
    return next((p for p in problems.values() if p is not None), None)


def amp_inf_skip_error(amp_train_step) -> str | None:
    """None when an enabled scaler sees an inf gradient: the step is skipped, the scale drops.

    A step that bypasses ``scaler.step()`` (or never calls ``scaler.update()``) fails.
    """
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        model[0].weight[0, 0] = float("inf")
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 8)
    what = (_("amp_train_step(a Linear with an inf weight, ..., GradScaler('cpu', "
              "init_scale=256), 'cpu', torch.bfloat16)"))
    loss = call(amp_train_step, model, x, y, optimizer, scaler, "cpu", torch.bfloat16,
                modifies=(0, 3, 4))
    if not isinstance(loss, float):
        return _("{what} returned {loss_type}; expected a Python float.").format(
                 what=what, loss_type=type(loss).__name__)
    finite = [k for k in before if torch.isfinite(before[k]).all()]
    changed = [k for k in finite if not torch.equal(before[k], model.state_dict()[k])]
    if changed:
        return (_("{what} changed parameters {changed} although the gradients hold inf; step "
                  "through scaler.step(optimizer), which skips such a step.").format(
                  what=what, changed=changed))
    if not scaler.get_scale() < 2.0 ** 8:
        return (_("after {what} the scaler's scale is {scale}; expected it lowered from "
                  "256: call scaler.update() after scaler.step(optimizer).").format(
                  what=what, scale=scaler.get_scale()))
    return None


def amp_clip_error(amp_train_step, seed: int, fraction: float, scaler_enabled: bool) -> str | None:
    """None when ``amp_train_step(..., max_norm=...)`` clips the *unscaled* gradients.

    ``max_norm`` is ``fraction`` times the fresh gradient's total norm, so the clipping is
    active when ``fraction < 1`` and changes nothing when it is above 1. The expected
    parameters are one SGD step (lr 1) on the bf16-autocast gradient clipped with
    ``clip_grad_norm_``; an enabled scaler (scale 256) must not change them.
    """
    model, x, y, _lr = amp_case(seed, 12, 8, 4)
    lr = 1.0
    expected = copy.deepcopy(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = nn.functional.cross_entropy(expected(x), y)
    loss.backward()
    norm = torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(p.grad) for p in expected.parameters()])).item()
    max_norm = fraction * norm
    nn.utils.clip_grad_norm_(expected.parameters(), max_norm)
    with torch.no_grad():
        for p in expected.parameters():
            p -= lr * p.grad
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    scaler = torch.amp.GradScaler("cpu", enabled=scaler_enabled, init_scale=2.0 ** 8)
    what = (f"amp_train_step(MLP 8-32-4, x (12, 8), y, SGD(lr=1), GradScaler(enabled="
            f"{scaler_enabled}, init_scale=256), 'cpu', torch.bfloat16, max_norm={max_norm:.4g})")
    call(amp_train_step, model, x, y, optimizer, scaler, "cpu", torch.bfloat16,
         max_norm=max_norm, modifies=(0, 3, 4))
    for (name, got), want in zip(model.named_parameters(), expected.parameters(), strict=True):
        if not torch.allclose(got, want, rtol=1e-3, atol=1e-4):
            active = _("the clipping is active") if fraction < 1 else _("the norm is already below it")
            return (_("{what}: parameter {name} after the step differs by {difference:.3g} from one "
                      "SGD step on the gradient clipped to total norm {max_norm:.4g} "
                      "({active}: the gradient's norm is {norm:.4g}). Clip the true gradients: "
                      "unscale them first (scaler.unscale_(optimizer)), then clip_grad_norm_, "
                      "then scaler.step.").format(
                      what=what, name=name, difference=(got - want).abs().max().item(),
                      max_norm=max_norm, active=active, norm=norm))
    return None


@visible_check
def check_amp_train_step(amp_train_step) -> int:
    cases = [(0, 16, 10, 4, False), (1, 9, 7, 3, True)]
    found = [amp_step_problems(amp_train_step, *case) for case in cases]
    with part("main property"):
        for problems in found:
            expect(problems["main property"] is None, problems["main property"] or "")
    with part("loss scaling"):
        for problems in found:
            expect(problems["loss scaling"] is None, problems["loss scaling"] or "")
        problem = amp_inf_skip_error(amp_train_step)
        expect(problem is None, problem or "")
    with part("gradient clipping"):
        for seed, fraction, scaler_enabled in [(0, 0.3, True), (1, 0.3, False), (2, 3.0, True)]:
            problem = amp_clip_error(amp_train_step, seed, fraction, scaler_enabled)
            expect(problem is None, problem or "")
    with part("errors"):
        model, x, y, lr = amp_case(0, 4, 3, 2)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        for bad in (0.0, -1.0):
            expect_value_error(amp_train_step, model, x, y, optimizer,
                               torch.amp.GradScaler("cpu", enabled=False), "cpu",
                               torch.bfloat16, max_norm=bad, argument="max_norm")
    return len(cases) + 6


# -------------------------------------------------------------------- top_operators


def reference_top_operators(events: list[tuple[str, float]], k: int) -> list[tuple[str, float]]:
    """The ``k`` names with the largest summed self time, with their share of the total.

    Sorted by summed time, largest first, ties by name; independent of the learner's code.
    """
    totals: dict[str, float] = {}
    for name, self_time in events:
        totals[name] = totals.get(name, 0) + self_time
    grand_total = sum(totals.values())
    ranked = sorted(totals, key=lambda name: (-totals[name], name))[:k]
    return [(name, totals[name] / grand_total) for name in ranked]


def top_operators_error(top_operators, events: list[tuple[str, float]], k: int) -> str | None:
    """None when ``top_operators(events, k)`` matches the reference; else the reason."""
    expected = reference_top_operators(events, k)
    shown = events if len(events) <= 6 else events[:6] + ["..."]
    what = f"top_operators({shown!r}, k={k})"
    got = call(top_operators, list(events), k)
    if not isinstance(got, (list, tuple)) or not all(
            isinstance(row, (list, tuple)) and len(row) == 2 for row in got):
        return _("{what} returned {got}; expected a list of (name, share) pairs.").format(
                 what=what, got=describe(got))
    names = [row[0] for row in got]
    expected_names = [name for name, _ in expected]
    if names != expected_names:
        return (_("{what} returned the names {names}; expected {expected_names} (self times "
                  "summed per name, largest first, ties in alphabetical order, at most k).").format(
                  what=what, names=names, expected_names=expected_names))
    for (name, share), (_name, want) in zip(got, expected, strict=True):
        if not isinstance(share, (int, float)) or isinstance(share, bool) or not math.isclose(
                float(share), want, rel_tol=1e-9, abs_tol=1e-12):
            return (_("{what} gave {name!r} the share {share!r}; expected {want:.6g} (its "
                      "summed self time over the total self time of all events, not only the "
                      "top k).").format(what=what, name=name, share=share, want=want))
    return None


TOP_OPERATOR_CASES = [
    ([("aten::addmm", 600.0), ("aten::relu", 150.0), ("aten::t", 50.0), ("aten::copy_", 200.0)],
     2),
    ([("aten::mm", 30.0), ("aten::add", 10.0), ("aten::mm", 50.0), ("aten::add", 10.0)], 1),
    ([("conv", 5.0), ("relu", 1.0), ("pool", 2.0), ("conv", 3.0), ("relu", 2.0)], 3),
]
TOP_OPERATOR_EDGE_CASES = [
    ([("aten::mul", 2.0), ("aten::add", 2.0), ("aten::div", 2.0)], 2),  # ties: by name
    ([("aten::addmm", 7.0), ("aten::relu", 3.0)], 5),  # k larger than the number of names
    ([("aten::empty", 0.0), ("aten::mm", 4.0), ("aten::empty", 0.0)], 2),  # zero self time
    ([("b", 1.0), ("a", 3.0), ("b", 2.0)], 2),  # a repeated name ties another after summing
]


@visible_check
def check_top_operators(top_operators) -> int:
    with part("main property"):
        for events, k in TOP_OPERATOR_CASES:
            problem = top_operators_error(top_operators, events, k)
            expect(problem is None, problem or "")
    with part("edge cases"):
        for events, k in TOP_OPERATOR_EDGE_CASES:
            problem = top_operators_error(top_operators, events, k)
            expect(problem is None, problem or "")
    with part("errors"):
        for bad_k in (0, -2):
            expect_value_error(top_operators, [("aten::mm", 1.0)], bad_k, argument="k")
        for bad_events in ([], [("aten::mm", 1.0), ("aten::add", -0.5)],
                           [("aten::mm", 0.0), ("aten::add", 0.0)]):
            expect_value_error(top_operators, bad_events, 2, argument="events")
    return len(TOP_OPERATOR_CASES) + len(TOP_OPERATOR_EDGE_CASES) + 5
