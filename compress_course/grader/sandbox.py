"""Running a submission's code in child processes, out of the checks' reach.

The hidden checks run in the grading process; the learner's functions never do. Each
exercise function gets its own child process (forked from a server that has already
imported torch, so a child starts in milliseconds), which runs the notebook's ``setup``
cell and only the exercise cells that function needs. A call on the grading side sends the
arguments to that child (pickle bytes, tensors as their raw bytes: no shared memory, no
file descriptors, see ``wire``), runs the function there, and brings back:

- the return value: numbers, strings, containers and tensors as a JSON skeleton plus raw
  tensor bytes (``wire.decode`` builds nothing else), anything else (``torch.nn`` layers)
  through ``torch.save`` and decoded with ``torch.load(weights_only=True)`` plus an
  allow-list of ``torch.nn`` layer classes, so a hostile child cannot run code in the
  grader while its answer is unpacked;
- the state of each argument the call changed (module weights, gradients and train/eval
  flags, optimizer and GradScaler state, tensors, dicts, lists), copied back into the
  grader's objects, so functions whose job is to change an argument in place are graded as
  if they had run locally. The child compares every argument with a copy taken before the
  call and sends back only the ones that changed (optimizers and GradScalers always).

Expected values are computed and compared in the grading process, so monkeypatching
``torch``, builtins or the course package inside a notebook changes only that child.

Limits in the child: a working directory of its own (a copy of the submission), output to
a capped file instead of the terminal, an address-space cap, a CPU-time cap, privileges
dropped to ``nobody`` when grading runs as root and ``nobody`` can read the Python
installation, and a watchdog thread that ends the child once the grading process is gone.
A call that runs too long kills the child (``ExerciseTimeout``); a child that dies
(segfault, ``os._exit``, a signal) is reported as a crash; either way the next call starts
a fresh child.

Residual risk: where grading runs as root and Python lives under /root (so privileges
cannot be dropped to ``nobody``), a child runs as root and could read the grading
process's memory. Grade as an ordinary user, or with Python installed where ``nobody``
can read it, to close that gap.
"""

from __future__ import annotations

import functools
import gc
import io
import os
import pickle
import resource
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..i18n import _
from . import wire
from .notebook import ExerciseMissing, ExerciseTimeout, SubmissionError, load_exercises
from .processes import mp_context, start_watchdog

MAX_REPLY_BYTES = 512 * 2**20
OUTPUT_LIMIT_BYTES = 2 * 2**20
MEMORY_LIMIT_BYTES = 6 * 2**30
CPU_LIMIT_SECONDS = 900
NOBODY = 65534
# Raised by the pytest plugin while a check that declares a longer time limit runs.
CALL_TIMEOUT_FLOOR = 0.0

# Exceptions a learner's function may raise that the checks look for by type.
_REBUILT_EXCEPTIONS: dict[str, type[BaseException]] = {
    cls.__name__: cls for cls in (
        ValueError, TypeError, NotImplementedError, IndexError, KeyError, RuntimeError,
        ZeroDivisionError, AttributeError, ArithmeticError, OverflowError, MemoryError,
        RecursionError, LookupError, AssertionError)}


@functools.lru_cache(maxsize=1)
def _allowed_globals() -> tuple[type, ...]:
    layers = [obj for obj in vars(nn).values()
              if isinstance(obj, type) and issubclass(obj, nn.Module)
              and obj.__module__.startswith("torch.nn.modules")]
    return (*layers, nn.Parameter)


_WIRE, _TORCH = b"B", b"T"


def safe_dumps(obj: Any) -> bytes:
    """A reply for the grader: plain data and tensors as ``wire.encode`` writes them, else
    (layers, tensor subclasses) ``torch.save``."""
    try:
        return _WIRE + wire.encode(obj)
    except wire.NotPlain:
        pass
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return _TORCH + buffer.getvalue()


def safe_loads(data: bytes) -> Any:
    """Decode a child's reply without letting it name arbitrary callables."""
    if data[:1] == _WIRE:
        return wire.decode(memoryview(data)[1:])
    if data[:1] != _TORCH:
        raise ValueError("unknown reply format")
    with torch.serialization.safe_globals(list(_allowed_globals())):
        return torch.load(io.BytesIO(data[1:]), weights_only=True)


# ----------------------------------------------------------------- argument state sync


def _state(value: Any) -> Any:
    """What the grader needs to replay an in-place change of ``value`` on its own copy."""
    if isinstance(value, nn.Module):
        return {"kind": "module", "state": value.state_dict(),
                "training": {name: m.training for name, m in value.named_modules()},
                "grads": {name: p.grad for name, p in value.named_parameters()}}
    if isinstance(value, torch.optim.Optimizer):
        return {"kind": "state_dict", "state": value.state_dict()}
    if isinstance(value, torch.amp.GradScaler):
        return {"kind": "state_dict", "state": value.state_dict()}
    if isinstance(value, torch.Tensor):
        return {"kind": "tensor", "value": value.detach(), "grad": value.grad}
    if isinstance(value, (dict, list)):
        return {"kind": "container", "value": value}
    return None


def _fingerprint(value: Any) -> Any:
    """A copy of what ``_state`` would send, to tell afterwards whether a call changed it."""
    if isinstance(value, nn.Module):
        return ("module", {k: v.detach().clone() for k, v in value.state_dict().items()},
                {k: (None if p.grad is None else p.grad.detach().clone())
                 for k, p in value.named_parameters()},
                [m.training for m in value.modules()])
    if isinstance(value, torch.Tensor):
        return ("tensor", value.detach().clone(),
                None if value.grad is None else value.grad.detach().clone())
    if isinstance(value, dict):
        return ("dict", {k: _fingerprint(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [_fingerprint(v) for v in value])
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return ("value", value)
    return ("other", id(value))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape \
            and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and \
            all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _changed_state(value: Any, before: Any) -> Any:
    """``_state(value)`` if the call may have changed ``value``, else None (nothing to send)."""
    if isinstance(value, (torch.optim.Optimizer, torch.amp.GradScaler)):
        return _state(value)
    try:
        if before is not None and _same(before, _fingerprint(value)):
            return None
    except Exception:  # noqa: BLE001 - cannot tell: send the state
        pass
    return _state(value)


def _safe_fingerprint(value: Any) -> Any:
    try:
        return _fingerprint(value)
    except Exception:  # noqa: BLE001 - cannot tell: the state is sent after the call
        return None


def _replay(original: Any, state: Any) -> None:
    if not isinstance(state, dict):
        return
    kind = state.get("kind")
    with torch.no_grad():
        if kind == "module" and isinstance(original, nn.Module):
            original.load_state_dict(state["state"], strict=False)
            for name, module in original.named_modules():
                if name in state["training"]:
                    module.training = bool(state["training"][name])
            for name, parameter in original.named_parameters():
                if name in state["grads"]:
                    parameter.grad = state["grads"][name]
        elif kind == "state_dict" and hasattr(original, "load_state_dict"):
            original.load_state_dict(state["state"])
        elif kind == "tensor" and isinstance(original, torch.Tensor):
            new = state["value"]
            if new.shape == original.shape and new.dtype == original.dtype:
                original.copy_(new)
            if original.requires_grad and original.is_leaf:
                original.grad = state["grad"]
        elif kind == "container" and type(original) is type(state["value"]):
            if isinstance(original, dict):
                original.clear()
                original.update(state["value"])
            else:
                original[:] = state["value"]


# ----------------------------------------------------------------------------- child


def _harden_child(workdir: str, memory_limit: int, watched_pid: int) -> None:
    os.chdir(workdir)
    output = os.open(os.path.join(workdir, "output.log"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(output, 1)
    os.dup2(output, 2)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a print past the cap fails, not the child
    resource.setrlimit(resource.RLIMIT_FSIZE, (OUTPUT_LIMIT_BYTES, OUTPUT_LIMIT_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT_SECONDS, CPU_LIMIT_SECONDS + 5))
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    os.environ.update(HOME=workdir, MPLCONFIGDIR=workdir, TMPDIR=workdir)
    start_watchdog(watched_pid)
    if os.geteuid() == 0 and _world_readable_python():
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def _single_threaded() -> None:
    """One torch thread in a sandbox, and process groups forked from it.

    The checks' tensors are small: a second thread only spins (on a loaded machine, it
    costs more CPU than it saves). ``parallel.launch`` then forks its ranks from this
    process (everything already imported and loaded, the same limits) instead of starting
    fresh interpreters that import torch and load the notebook again.
    """
    from .. import parallel

    torch.set_num_threads(1)
    parallel.FORK_RANKS = True


@functools.lru_cache(maxsize=1)
def _world_readable_python() -> bool:
    """Whether ``nobody`` could still import modules (Python under /root often is not).
    Asked once per process (the answer does not change while grading runs)."""
    import sys

    import compress_course

    for root in {sys.base_prefix, sys.prefix, os.path.dirname(compress_course.__file__)}:
        path = Path(root).resolve()
        for folder in (path, *path.parents):
            mode = folder.stat().st_mode
            if not mode & 0o001 or (folder == path and not mode & 0o004):
                return False
    return True


def _child_main(connection, workdir: str, notebook: str, function: str, cell_timeout: float,
                memory_limit: int, watched_pid: int) -> None:
    """Entry point of a sandbox child: load, then serve calls until told to stop."""
    gc.enable()  # off in the server while it imported (pause_gc)
    try:
        _harden_child(workdir, memory_limit, watched_pid)
        _single_threaded()
        loaded = load_exercises(Path(workdir) / notebook, timeout=cell_timeout,
                                functions={function})
        reply: tuple = ("ready",)
    except SubmissionError as error:
        loaded, reply = None, ("load_error", str(error))
    except BaseException as error:  # noqa: BLE001 - anything the submission's setup does
        loaded, reply = None, ("load_error", f"{type(error).__name__}: {error}")
    connection.send_bytes(safe_dumps(reply))
    while loaded is not None:
        try:
            request = wire.loads_request(connection.recv_bytes())
        except (EOFError, OSError):
            break
        if request is None:
            break
        name, args, kwargs, scenario = request
        try:
            before = [_safe_fingerprint(a) for a in args]
            before_kw = {k: _safe_fingerprint(v) for k, v in kwargs.items()}
            function = getattr(loaded, name)
            if scenario is None:
                result = function(*args, **kwargs)
            else:
                result = scenario(function, *args, **kwargs)
            reply = ("ok", result, [_changed_state(a, b) for a, b in zip(args, before, strict=True)],
                     {k: _changed_state(v, before_kw[k]) for k, v in kwargs.items()})
        except ExerciseMissing as error:
            reply = ("missing", str(error))
        except BaseException as error:  # noqa: BLE001 - SystemExit etc. are the learner's
            reply = ("raised", type(error).__name__, str(error)[:2000])
        try:
            data = safe_dumps(reply)
        except Exception as error:
            data = safe_dumps(("raised", "TypeError", "its result could not be sent back to "
                               f"the grader ({type(error).__name__}: {error})"))
        connection.send_bytes(data)
    os._exit(0)


# ---------------------------------------------------------------------------- parent

def _describe_exit(code: int | None) -> str:
    if code is None:
        return _("it stopped answering")
    if code < 0:
        try:
            return _("killed by {signal}").format(signal=signal.Signals(-code).name)
        except ValueError:
            return _("killed by signal {number}").format(number=-code)
    return _("exit code {code}").format(code=code)


class Sandbox:
    """One child process serving one exercise function of one notebook."""

    def __init__(self, source_dir: Path, notebook: str, function: str, call_timeout: float,
                 cell_timeout: float = 60.0, memory_limit: int = MEMORY_LIMIT_BYTES):
        self.source_dir, self.notebook, self.function = source_dir, notebook, function
        self.call_timeout, self.cell_timeout = call_timeout, cell_timeout
        self.memory_limit = memory_limit
        self.process = None
        self.connection = None
        self.workdir = None
        self.load_error: str | None = None

    def _start(self) -> None:
        self.close()
        self.workdir = tempfile.mkdtemp(prefix="sandbox-")
        if self.source_dir.is_dir():
            shutil.copytree(self.source_dir, self.workdir, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns(".*", "__pycache__"),
                            copy_function=shutil.copyfile)  # contents only: no metadata
        if os.geteuid() == 0 and _world_readable_python():
            for folder, _dirs, files in os.walk(self.workdir):
                os.chown(folder, NOBODY, NOBODY)
                for name in files:
                    os.chown(os.path.join(folder, name), NOBODY, NOBODY)
        for attempt in range(2):
            parent_end, child_end = mp_context().Pipe()
            process = mp_context().Process(
                target=_child_main, daemon=True,
                args=(child_end, self.workdir, self.notebook, self.function, self.cell_timeout,
                      self.memory_limit + _current_address_space(), os.getpid()))
            try:
                process.start()
                break
            except (OSError, EOFError) as error:  # the fork server died: once more, anew
                parent_end.close()
                child_end.close()
                if attempt:
                    raise SubmissionError(_(
                        "the grader could not start a process to run {function} "
                        "({error_type}: {error})").format(
                        function=self.function, error_type=type(error).__name__,
                        error=error)) from None
        self.process = process
        child_end.close()
        self.connection = parent_end
        reply = self._receive(self.cell_timeout * 4 + 30,
                              _("loading {notebook}").format(notebook=self.notebook))
        if reply[0] == "load_error":
            self.load_error = reply[1]

    def _receive(self, timeout: float, what: str) -> tuple:
        try:
            if not self.connection.poll(timeout):
                self.close()
                raise ExerciseTimeout(_("{what} took longer than {seconds:g} s (an infinite "
                                        "loop?)").format(what=what, seconds=timeout))
            data = self.connection.recv_bytes(MAX_REPLY_BYTES)
        except (EOFError, ConnectionError, OSError):
            self.process.join(2)
            code = self.process.exitcode
            self.close()
            raise SubmissionError(_("the process running the submission crashed ({exit}) "
                                    "while {what}").format(exit=_describe_exit(code),
                                                           what=what)) from None
        except BaseException:
            self.close()  # an outer time limit fired mid-call: the child is still busy
            raise
        try:
            reply = safe_loads(data)
        except Exception as error:
            raise SubmissionError(_("{what} sent back something the grader does not accept "
                                    "(only tensors, numbers, strings, containers and torch.nn "
                                    "layers can be returned): {error}").format(
                what=what, error=str(error).splitlines()[0])) from None
        if not isinstance(reply, tuple) or not reply:
            raise SubmissionError(_("{what} sent back a malformed reply").format(what=what))
        return reply

    def call(self, name: str, args: tuple, kwargs: dict, scenario: Callable | None = None) -> Any:
        if self.process is None or not self.process.is_alive():
            self._start()
        if self.load_error:
            raise SubmissionError(self.load_error)
        what = _("running {name}").format(name=name)
        request = wire.dumps_request((name, args, kwargs, scenario))
        try:
            self.connection.send_bytes(request)
        except (BrokenPipeError, OSError):
            self._start()
            self.connection.send_bytes(request)
        reply = self._receive(max(self.call_timeout, CALL_TIMEOUT_FLOOR), what)
        kind = reply[0]
        if kind == "ok":
            _kind, result, arg_states, kwarg_states = reply
            for original, state in zip(args, arg_states, strict=False):
                _replay(original, state)
            for key, state in kwarg_states.items():
                _replay(kwargs.get(key), state)
            return result
        if kind == "missing":
            raise ExerciseMissing(reply[1])
        if kind == "raised":
            _kind, type_name, message = reply
            if type_name == "SystemExit":
                raise SubmissionError(_("{name} called sys.exit({code})").format(name=name,
                                                                                code=message))
            if type_name == "ExerciseTimeout":
                raise ExerciseTimeout(message)
            exception = _REBUILT_EXCEPTIONS.get(type_name)
            if exception is None:
                raise RuntimeError(f"{type_name}: {message}")
            raise exception(message)
        raise SubmissionError(_("{what} sent back an unknown reply").format(what=what))

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.send_bytes(pickle.dumps(None))
            except Exception:
                pass
            self.connection.close()
            self.connection = None
        if self.process is not None:
            try:
                self.process.join(0.2)
                if self.process.is_alive():
                    self.process.kill()
                    self.process.join(2)
            except (AssertionError, OSError, ValueError):  # never started, or already gone
                pass
            self.process = None
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def _current_address_space() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RemoteFunction:
    """Stands for a learner's function; calling it runs the function in its sandbox."""

    def __init__(self, notebook: RemoteNotebook, name: str):
        self._notebook, self.__name__ = notebook, name
        self.__qualname__ = name

    def __call__(self, *args, **kwargs):
        return self._notebook.sandbox(self.__name__).call(self.__name__, args, kwargs)

    def run_with(self, scenario: Callable, *args, **kwargs):
        """Run ``scenario(function, *args, **kwargs)`` in the sandbox and return its result.

        For checks of in-place behaviour that must happen where the learner's hooks live
        (e.g. "masks stay applied through optimizer steps"). ``scenario`` must be a
        module-level function (it is sent by reference); compare what it returns, and the
        arguments' state copied back, against values computed in the grading process.
        """
        return self._notebook.sandbox(self.__name__).call(self.__name__, args, kwargs, scenario)

    def __repr__(self) -> str:
        return f"<{self.__name__} from {self._notebook.notebook}>"


class RemoteNotebook:
    """A notebook whose exercise functions run in sandboxes: ``nb.some_function(...)``.

    Attribute access checks (cheaply, without running the submission) that a cell tagged
    ``exercise`` defines the name, and returns a ``RemoteFunction``.
    """

    def __init__(self, folder: Path, notebook: str, call_timeout: float = 60.0,
                 cell_timeout: float = 60.0):
        from .notebook import (
            EXERCISE_TAG,
            _cell_source,
            _defined_names,
            _parses,
            _tags,
            read_notebook,
        )

        self._folder, self.notebook, self._call_timeout = folder, notebook, call_timeout
        self._cell_timeout = cell_timeout
        sources = [_cell_source(c) for c in read_notebook(folder / notebook)["cells"]
                   if c.get("cell_type") == "code" and EXERCISE_TAG in _tags(c)]
        self._defined = {name for source in sources for name in _defined_names(source)}
        # With a cell that does not parse, let the sandbox report its syntax error.
        self._unparsable = any(source.strip() and not _defined_names(source)
                               and not _parses(source) for source in sources)
        self._sandboxes: dict[str, Sandbox] = {}

    def sandbox(self, name: str) -> Sandbox:
        if name not in self._sandboxes:
            self._sandboxes[name] = Sandbox(self._folder, self.notebook, name, self._call_timeout,
                                            cell_timeout=self._cell_timeout)
        return self._sandboxes[name]

    def __getattr__(self, item: str) -> Callable:
        if item.startswith("_"):
            raise AttributeError(item)
        if item not in self._defined and not self._unparsable:
            raise ExerciseMissing(_("{notebook} defines no function `{item}` in a cell tagged "
                                    "`exercise`").format(notebook=self.notebook, item=item))
        return RemoteFunction(self, item)

    def close(self) -> None:
        for sandbox in self._sandboxes.values():
            sandbox.close()
        self._sandboxes.clear()
