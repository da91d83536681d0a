"""Launching a small ``torch.distributed`` process group from a notebook or a test.

``launch(worker, world_size, args)`` starts ``world_size`` fresh Python processes (like
the ``spawn`` start method: safe in a Jupyter kernel that already runs threads), joins them
into one process group (gloo on CPU), runs ``worker(rank, world_size, *args)`` in each,
and returns every rank's return value, in rank order.

Robustness, because a launch can fail for reasons that have nothing to do with the code
it runs (a port taken in between, a process that aborts while tearing down):

- a free TCP port is chosen at run time, for each attempt;
- the whole launch has a wall-time limit, and collectives a timeout, so nothing hangs;
- a launch that *crashed* (a process died before reporting its result, or the group
  could not be formed) is retried once on a new port; an exception raised by the worker
  itself is not retried: it is reported as ``WorkerError`` with the rank and the reason;
- each process writes its result to a file before tearing down, so a crash during
  teardown costs nothing.

Where ``FORK_RANKS`` is set (the grader's sandbox sets it: a single-threaded process
that has already imported torch and loaded the submission), the ranks are forked from the
calling process instead: no interpreter start-up, no re-import of torch, no re-loading of
the notebook (a function passed through ``portable`` is found again in the forked copy),
and each rank inherits the caller's limits (memory, CPU time, user). Forked ranks run torch
on one thread (a forked child must not use the parent's OpenMP pool) and are killed if the
caller dies.

Spawned processes start from scratch, so ``worker`` (and every argument) must be
picklable: a function defined at the top level of an importable module, such as the
workers below. A function defined in a notebook is not importable; ``portable(fn)``
wraps it so that the child can rebuild it (from its source, or by re-loading the
notebook's exercise cells with ``compress_course.grading.load_exercises``).
"""

from __future__ import annotations

import datetime
import functools
import importlib
import inspect
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

# Fork the ranks from the calling process instead of starting fresh interpreters. Only for
# a process that runs no threads of its own that matter (the grader's sandbox sets it);
# a Jupyter kernel keeps the default (fresh interpreters, like the spawn method).
FORK_RANKS = False


class LaunchError(RuntimeError):
    """The process group could not be run (crash or timeout), even after a retry."""


class WorkerError(RuntimeError):
    """The worker function raised in one of the ranks; the message says which and why."""


def free_port() -> int:
    """A TCP port on localhost that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def default_backend() -> str:
    """``nccl`` when every rank can have its own GPU, else ``gloo`` (CPU)."""
    return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


# --------------------------------------------------------------------- child side


def _entry(rank: int, world_size: int, port: int, backend: str, collective_timeout: float,
           threads: int, worker: Any, args: tuple, out_dir: str) -> None:
    """What each launched process runs: join the group, run the worker, save its result."""
    out = Path(out_dir) / f"rank{rank}.pt"
    torch.set_num_threads(threads)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size))
    try:
        if backend == "nccl":
            torch.cuda.set_device(rank % torch.cuda.device_count())
        dist.init_process_group(backend, rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(seconds=collective_timeout))
    except Exception as error:  # the group never formed: a launch problem, worth a retry
        torch.save({"status": "launch", "error": f"{type(error).__name__}: {error}"}, out)
        os._exit(3)
    try:
        value = worker(rank, world_size, *args)
        record = {"status": "ok", "value": value}
    except BaseException as error:  # noqa: BLE001 - reported to the parent, never lost
        lines = traceback.format_exception(type(error), error, error.__traceback__)
        record = {"status": "error", "error": f"{type(error).__name__}: {error}",
                  "traceback": "".join(lines[-6:])}
    torch.save(record, out)
    try:
        dist.barrier()  # nobody tears down while another rank still needs it
        dist.destroy_process_group()
    except Exception:
        pass
    # Skip the interpreter's own teardown (where rare aborts happen): the result is saved.
    os._exit(0)


# --------------------------------------------------------------------- parent side


@dataclass
class Attempt:
    """What one try of a launch did (kept in ``launch``'s log for the curious)."""

    port: int
    seconds: float
    exit_codes: list[int | None]
    problem: str | None


def _child_main(payload_path: str, rank: int) -> None:
    """Entry point of a launched process (``python -c ...``): read the payload, run ``_entry``."""
    with open(payload_path, "rb") as payload_file:
        payload = pickle.load(payload_file)
    _entry(rank, **payload)


class _ForkedRank:
    """A rank forked from this process, with the part of ``Popen``'s interface used here."""

    def __init__(self, rank: int, payload: dict):
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the rank: never returns into the caller's code
            try:
                _die_with_parent()
                _entry(rank, **payload)
            finally:
                os._exit(4)
        self.pid, self.returncode = pid, None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -9
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def _signal(self, number: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, number)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.perf_counter() + timeout
        while self.poll() is None:
            if deadline is not None and time.perf_counter() > deadline:
                raise subprocess.TimeoutExpired(f"rank (pid {self.pid})", timeout)
            time.sleep(0.01)
        return self.returncode


def _die_with_parent() -> None:
    """In a forked rank: get SIGKILL when the process that forked it dies (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_once(worker, world_size, args, backend, timeout, collective_timeout, threads):
    port = free_port()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="compress-course-dist-") as out_dir:
        payload = dict(world_size=world_size, port=port, backend=backend,
                       collective_timeout=collective_timeout, threads=threads, worker=worker,
                       args=args, out_dir=out_dir)
        if FORK_RANKS:
            # DDP imports it lazily: once here, not per rank. (Not `import torch._dynamo`:
            # that would make `torch` a local name of this whole function.)
            importlib.import_module("torch._dynamo")

            processes = [_ForkedRank(rank, payload) for rank in range(world_size)]
        else:
            payload_path = Path(out_dir) / "payload.pkl"
            payload_path.write_bytes(pickle.dumps(payload))
            # Plain subprocesses, not multiprocessing: they also work from a daemonic
            # process, and they start as clean as the spawn method.
            search_path = [os.getcwd() if entry == "" else entry for entry in sys.path]
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(search_path)}
            code = ("import sys; from compress_course.parallel import _child_main; "
                    "_child_main(sys.argv[1], int(sys.argv[2]))")
            processes = [subprocess.Popen([sys.executable, "-c", code, str(payload_path),
                                           str(rank)], env=env, stdin=subprocess.DEVNULL)
                         for rank in range(world_size)]
        deadline = start + timeout
        while time.perf_counter() < deadline and any(p.poll() is None for p in processes):
            if any(p.poll() not in (None, 0) for p in processes):
                time.sleep(0.5)  # let the others report what they know, then stop them
                break
            time.sleep(0.05)
        timed_out = any(p.poll() is None for p in processes)
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        records = {}
        for rank in range(world_size):
            path = Path(out_dir) / f"rank{rank}.pt"
            if path.exists():
                try:
                    records[rank] = torch.load(path, weights_only=False)
                except Exception:  # a half-written file: the process died while saving
                    pass
    seconds = time.perf_counter() - start
    codes = [p.returncode for p in processes]
    return port, seconds, codes, timed_out, records


def launch(worker, world_size: int = 2, args: tuple = (), backend: str | None = None,
           timeout: float = 300.0, collective_timeout: float = 60.0, retries: int = 1,
           threads: int | None = None) -> list[Any]:
    """Run ``worker(rank, world_size, *args)`` in ``world_size`` processes of one group.

    Args:
        worker: a picklable function (top level of an importable module; see ``portable``).
        world_size: number of processes (ranks), >= 1.
        args: extra picklable arguments passed to every rank.
        backend: ``"gloo"`` (CPU) or ``"nccl"`` (one GPU per rank); default: ``default_backend()``.
        timeout: wall seconds one attempt may take, start-up included.
        collective_timeout: seconds a collective (all-reduce, barrier) may wait.
        retries: extra attempts after a crashed or timed-out launch.
        threads: intra-op threads per process (default: the cores shared out evenly;
            always 1 for ranks forked under ``FORK_RANKS``).

    Returns:
        The list of every rank's return value, index = rank.

    Raises:
        WorkerError: the worker raised (not retried: the same code would raise again).
        LaunchError: every attempt crashed or timed out.
    """
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0, got {timeout}")
    backend = backend or default_backend()
    threads = 1 if FORK_RANKS else threads or max(1, (os.cpu_count() or 1) // world_size)
    launch.log = []
    for _ in range(retries + 1):
        port, seconds, codes, timed_out, records = _run_once(
            worker, world_size, args, backend, timeout, collective_timeout, threads)
        errors = {r: rec for r, rec in records.items() if rec["status"] == "error"}
        if errors:
            rank, record = min(errors.items())
            launch.log.append(Attempt(port, seconds, codes, "worker error"))
            raise WorkerError(f"rank {rank} of {world_size} raised {record['error']}\n"
                              f"{record['traceback']}")
        if len(records) == world_size and all(r["status"] == "ok" for r in records.values()):
            launch.log.append(Attempt(port, seconds, codes, None))
            return [records[rank]["value"] for rank in range(world_size)]
        launch_problems = [rec["error"] for rec in records.values() if rec["status"] == "launch"]
        if timed_out:
            problem = f"timed out after {timeout:g} s"
        elif launch_problems:
            problem = f"the process group did not form ({launch_problems[0]})"
        else:
            problem = f"a process crashed (exit codes {codes})"
        launch.log.append(Attempt(port, seconds, codes, problem))
    raise LaunchError(f"launching {world_size} processes failed {len(launch.log)} times; "
                      f"last: {launch.log[-1].problem}")


launch.log = []


# ------------------------------------------------- shipping notebook functions


@dataclass(frozen=True)
class NotebookFunction:
    """A function of a notebook's exercise cells, found again by ``load_exercises``."""

    notebook: str
    name: str

    def __call__(self, *args, **kwargs):
        known = _PORTED.get((self.notebook, self.name))  # a rank forked from where it lives
        if known is not None:
            return known(*args, **kwargs)
        return getattr(_load_notebook(self.notebook), self.name)(*args, **kwargs)


# (notebook, name) -> the function ``portable`` was given, for ranks forked from this process
_PORTED: dict[tuple[str, str], Any] = {}


@functools.lru_cache(maxsize=4)
def _load_notebook(path: str):
    from .grading import load_exercises

    return load_exercises(path)


@dataclass(frozen=True)
class SourceFunction:
    """A function rebuilt from its source text, with the modules its globals named."""

    name: str
    source: str
    modules: tuple[tuple[str, str], ...]

    def __call__(self, *args, **kwargs):
        import importlib

        namespace = {alias: importlib.import_module(module) for alias, module in self.modules}
        exec(compile(self.source, f"<{self.name} shipped from a notebook>", "exec"), namespace)
        return namespace[self.name](*args, **kwargs)


def portable(fn):
    """``fn`` in a form a spawned process can receive.

    - a function of an importable module: ``fn`` itself (pickled by reference);
    - a function loaded from a notebook by ``grading.load_exercises`` (its globals carry
      the notebook's path as ``__file__``): a ``NotebookFunction`` that re-loads it;
    - a function typed in a notebook or an interactive session: a ``SourceFunction``
      holding its source and the modules it refers to (``torch``, ``dist``, ...). Such a
      function may use modules, not other notebook functions or variables.
    """
    if not isinstance(fn, types.FunctionType):
        return fn
    module = getattr(fn, "__module__", None)
    notebook = fn.__globals__.get("__file__")
    if isinstance(notebook, str) and notebook.endswith(".ipynb"):
        shipped = NotebookFunction(str(Path(notebook).resolve()), fn.__name__)
        if FORK_RANKS:
            _PORTED[(shipped.notebook, shipped.name)] = fn
        return shipped
    if module not in (None, "__main__") and not module.startswith("submission_") \
            and fn.__qualname__ == fn.__name__:
        return fn
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError) as error:
        raise ValueError(f"fn: cannot find the source of {fn.__name__} to send it to other "
                         f"processes ({error})") from None
    import textwrap

    used = _global_names(fn.__code__)
    modules = tuple((alias, value.__name__) for alias, value in fn.__globals__.items()
                    if alias in used and isinstance(value, types.ModuleType))
    return SourceFunction(fn.__name__, textwrap.dedent(source), modules)


def _global_names(code: types.CodeType) -> set[str]:
    """Names a code object (and the functions nested in it) may look up as globals."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_names(const)
    return names


# ------------------------------------------------------------------ workers


def tiny_classifier(seed: int = 0) -> nn.Module:
    """A small MLP 12-16-5 (a ReLU and a Tanh) whose gradients the workers compare."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(),
                         nn.Linear(16, 5))


def shard_batch(rank: int, batch: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank ``rank``'s batch for ``tiny_classifier``: ``x`` ``[batch, 12]``, ``y`` ``[batch]``."""
    generator = torch.Generator().manual_seed(1000 * seed + rank)
    x = torch.randn(batch, 12, generator=generator)
    y = torch.randint(0, 5, (batch,), generator=generator)
    return x, y


def _backward_on_shard(model: nn.Module, rank: int, seed: int) -> nn.Module:
    """``model`` after a backward pass of its mean cross-entropy on rank's shard."""
    x, y = shard_batch(rank, seed=seed)
    nn.functional.cross_entropy(model(x), y).backward()
    return model


def _gradients(model: nn.Module) -> list[torch.Tensor | None]:
    """A copy of every parameter's ``.grad`` (None where it has none)."""
    return [None if p.grad is None else p.grad.detach().clone() for p in model.parameters()]


def local_gradients(rank: int, seed: int = 0) -> list[torch.Tensor]:
    """Gradients of the mean cross-entropy of ``tiny_classifier(seed)`` on rank's shard."""
    return _gradients(_backward_on_shard(tiny_classifier(seed), rank, seed))


class PartlyUsed(nn.Module):
    """12 -> 16 -> 5 with a third Linear, ``unused``, that ``forward`` never calls.

    After a backward pass ``unused.weight.grad`` and ``unused.bias.grad`` are still
    None (the same on every rank), as for a branch a model skips in some step.
    """

    def __init__(self, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.first = nn.Linear(12, 16)
        self.unused = nn.Linear(16, 16)
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.first(x)))


def partly_used_gradients(rank: int, seed: int = 0) -> list[torch.Tensor | None]:
    """``local_gradients`` for ``PartlyUsed(seed)``: None for the unused layer's parameters."""
    return _gradients(_backward_on_shard(PartlyUsed(seed), rank, seed))


# torch.distributed's point-to-point and collective calls, counted around ``reduce_fn``.
COLLECTIVES = ("all_reduce", "all_reduce_coalesced", "reduce", "broadcast", "all_gather",
               "all_gather_into_tensor", "all_gather_object", "reduce_scatter",
               "reduce_scatter_tensor", "all_to_all", "all_to_all_single", "gather", "scatter",
               "send", "recv", "isend", "irecv", "barrier")


def _counting_collectives(fn, *args) -> tuple[Any, dict[str, int]]:
    """``fn(*args)`` with every ``torch.distributed`` collective call counted by name.

    The wrappers replace the module's attributes for the duration of the call, so a
    function that calls ``dist.all_reduce(...)`` (``dist`` = ``torch.distributed``) is seen.
    """
    counts: dict[str, int] = {}
    originals = {name: getattr(dist, name) for name in COLLECTIVES if hasattr(dist, name)}

    def counted(name, original):
        @functools.wraps(original)
        def wrapper(*call_args, **call_kwargs):
            counts[name] = counts.get(name, 0) + 1
            return original(*call_args, **call_kwargs)
        return wrapper

    for name, original in originals.items():
        setattr(dist, name, counted(name, original))
    try:
        returned = fn(*args)
    finally:
        for name, original in originals.items():
            setattr(dist, name, original)
    return returned, counts


def _reduce(reduce_fn, model: nn.Module) -> dict:
    """``reduce_fn(model)`` after a backward pass: ``"returned"`` (its repr, cut),
    ``"collectives"``, ``"params_changed"`` and ``"reduced"`` (the gradients after it)."""
    before = [p.detach().clone() for p in model.parameters()]
    returned, collectives = _counting_collectives(reduce_fn, model)
    return {"returned": repr(returned)[:80], "collectives": collectives,
            "params_changed": any(not torch.equal(b, p) for b, p in
                                  zip(before, model.parameters(), strict=True)),
            "reduced": _gradients(model)}


def gradient_worker(rank: int, world_size: int, reduce_fn=None, seed: int = 0) -> dict:
    """Each rank computes its shard's gradients, then averages them two ways.

    ``"ddp"``: by ``DistributedDataParallel`` (which all-reduces during backward).
    ``"reduced"``: by ``reduce_fn(model)`` after a plain backward (e.g. the learner's
    ``average_gradients``), when given. Also returns ``"params_changed"`` (did
    ``reduce_fn`` touch the parameters?), ``"returned"`` (what it returned),
    ``"collectives"`` (``{name: calls}`` of the ``torch.distributed`` collectives it made)
    and ``"unused"``: ``reduce_fn`` on ``PartlyUsed`` (a layer that receives no gradient),
    ``{"reduced": gradients or None, "params_changed": ...}`` or ``{"error": "..."}`` when
    it raised there.
    """
    ddp_model = nn.parallel.DistributedDataParallel(tiny_classifier(seed))
    result: dict[str, Any] = {"ddp": _gradients(_backward_on_shard(ddp_model, rank, seed))}
    if reduce_fn is not None:
        result.update(_reduce(reduce_fn, _backward_on_shard(tiny_classifier(seed), rank, seed)))
        try:
            unused = _reduce(reduce_fn, _backward_on_shard(PartlyUsed(seed), rank, seed))
        except Exception as error:  # the same on every rank: the model is the same
            message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            result["unused"] = {"error": f"{type(error).__name__}: {message}"}
        else:
            result["unused"] = {key: unused[key] for key in ("reduced", "params_changed")}
    return result


def ddp_train_worker(rank: int, world_size: int, epochs: int = 3, batch_size: int = 64,
                     lr: float = 1e-3, seed: int = 0, reduce_fn=None) -> dict:
    """Data-parallel training of ``models.course_mlp`` on digits with DDP (GPU under nccl).

    Every rank builds the same model (same seed), takes every ``world_size``-th example
    of each shuffled epoch, and trains with Adam; DDP averages the gradients, so all ranks
    stay identical. Each global step processes ``batch_size`` examples in total
    (``batch_size / world_size`` per rank).

    Returns ``{"state": state_dict, "losses": per-epoch mean loss, "seconds": training
    time, "examples": examples this rank processed}``, plus ``"gradients"``: the result of
    ``gradient_worker(rank, world_size, reduce_fn)`` when ``reduce_fn`` is given (one
    launch does both, since starting processes is the slow part).
    """
    from . import data, models

    digits = data.load_digits()
    on_gpu = dist.get_backend() == "nccl"
    device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    train_x, train_y = digits.train.x.to(device), digits.train.y.to(device)
    torch.manual_seed(seed)
    model = nn.parallel.DistributedDataParallel(
        models.course_mlp().to(device), device_ids=[device.index] if on_gpu else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    per_rank = batch_size // world_size
    generator = torch.Generator().manual_seed(seed)  # same order on every rank
    losses, examples = [], 0
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(digits.train), generator=generator)
        steps = len(order) // batch_size
        total = 0.0
        for step in range(steps):
            batch = order[step * batch_size:(step + 1) * batch_size]
            mine = batch[rank * per_rank:(rank + 1) * per_rank]
            optimizer.zero_grad(set_to_none=True)
            mine = mine.to(device)
            loss = nn.functional.cross_entropy(model(train_x[mine]), train_y[mine])
            loss.backward()
            optimizer.step()
            total += loss.item()
            examples += len(mine)
        losses.append(total / max(steps, 1))
    seconds = time.perf_counter() - start
    state = {k: v.detach().cpu().clone() for k, v in model.module.state_dict().items()}
    result = {"state": state, "losses": losses, "seconds": seconds, "examples": examples}
    if reduce_fn is not None:
        result["gradients"] = gradient_worker(rank, world_size, reduce_fn, seed)
    return result
