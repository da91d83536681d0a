"""Visible checks: what a learner runs right after writing an exercise.

Each check calls the learner's function on a few small cases and prints one line: a pass,
or a sentence that names the input tried, what was expected and what came back. The
hidden checks in ``tests/exercises`` reuse ``describe`` and ``call`` so that a grading
report speaks the same words.

Set ``COMPRESS_COURSE_STRICT=1`` (CI does) to make a failing check raise instead of
only printing, so a broken solution notebook cannot pass unnoticed.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import os
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

PASS, FAIL = "\u2713", "\u2717"


class CheckFailure(AssertionError):
    """A check's actionable failure; its message is shown to the learner as is."""


def expect(condition: bool, message: str) -> None:
    """Fail the current check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailure(message)


def describe(value: Any) -> str:
    """A short, readable description of an argument or a result, for messages."""
    if isinstance(value, torch.Tensor):
        shape = tuple(value.shape)
        dtype = str(value.dtype).replace("torch.", "")
        if value.numel() <= 6:
            return f"tensor({value.tolist()}, dtype={dtype})"
        return f"{dtype} tensor of shape {shape}"
    if isinstance(value, nn.Module):
        name = type(value).__name__
        if isinstance(value, (nn.Linear, nn.Conv2d, nn.BatchNorm2d)):
            return repr(value)
        n = sum(p.numel() for p in value.parameters())
        return f"{name} with {n:,} parameters"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in list(value.items())[:4]) + \
            (", ..." if len(value) > 4 else "") + "}"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(describe(v) for v in list(value)[:4])
        more = ", ..." if len(value) > 4 else ""
        return f"[{inner}{more}]" if isinstance(value, list) else f"({inner}{more})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def signature(fn: Any, args: tuple, kwargs: dict) -> str:
    """``name(arg description, key=value)`` for messages."""
    name = getattr(fn, "__name__", "function")
    parts = [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _snapshot(value: Any) -> Any:
    if isinstance(value, nn.Module):
        return {k: v.detach().clone() for k, v in value.state_dict().items()}
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, (dict, list, tuple)):
        return copy.deepcopy(value)
    return None


def _unchanged(before: Any, after: Any) -> bool:
    if isinstance(after, nn.Module):
        now = after.state_dict()
        return before.keys() == now.keys() and all(
            torch.equal(before[k], now[k]) for k in before)
    if isinstance(after, torch.Tensor):
        return before.shape == after.shape and before.dtype == after.dtype and \
            torch.equal(before, after.detach())
    if isinstance(after, (dict, list, tuple)):
        try:
            return _deep_equal(before, after)
        except Exception:
            return True
    return True


def _deep_equal(a: Any, b: Any) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            _deep_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def call(fn: Any, *args: Any, modifies: tuple[int, ...] = (), **kwargs: Any) -> Any:
    """Call a learner's ``fn`` and turn every way it can go wrong into a sentence.

    Raises ``CheckFailure`` when ``fn`` is not implemented, raises, or modifies one of its
    positional inputs (except the positions listed in ``modifies``, for functions whose
    job is to change an input in place).
    """
    snapshots = [_snapshot(a) for a in args]
    call_text = signature(fn, args, kwargs)
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailure(f"{getattr(fn, '__name__', 'function')} is not implemented yet: "
                           "replace `raise NotImplementedError()` with your code.") from None
    except CheckFailure:
        raise
    except Exception as error:
        raise CheckFailure(f"{call_text} raised {type(error).__name__}: {error}") from error
    for position, (before, arg) in enumerate(zip(snapshots, args, strict=True)):
        if position not in modifies and before is not None and not _unchanged(before, arg):
            raise CheckFailure(f"{call_text} modified its argument #{position + 1} "
                               f"({describe(arg)}); it must leave its inputs unchanged.")
    return result


def expect_value_error(fn: Any, *args: Any, argument: str, **kwargs: Any) -> None:
    """Expect ``fn(*args, **kwargs)`` to raise a ValueError whose message names ``argument``."""
    call_text = signature(fn, args, kwargs)
    try:
        fn(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailure(f"{getattr(fn, '__name__', 'function')} is not implemented yet: "
                           "replace `raise NotImplementedError()` with your code.") from None
    except ValueError as error:
        expect(argument in str(error),
               f"{call_text} raised ValueError({str(error)!r}); the message should name "
               f"the argument `{argument}`.")
        return
    except Exception as error:
        raise CheckFailure(f"{call_text} raised {type(error).__name__}: {error}; expected a "
                           f"ValueError naming `{argument}`.") from error
    raise CheckFailure(f"{call_text} returned normally; expected a ValueError naming "
                       f"`{argument}`.")


def seeded(seed: int):
    """Decorate a check body so it runs with its own seeded RNG, leaving the notebook's RNG
    state untouched (the learner's later cells draw the same numbers whether or not the
    check ran)."""
    def wrap(body):
        @functools.wraps(body)
        def run(fn):
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                return body(fn)
        return run
    return wrap


class _Parts:
    """The named parts of the visible check now running (see ``part``)."""

    def __init__(self) -> None:
        self.results: list[tuple[str, str | None]] = []  # (name, failure message or None)


_current_parts: list[_Parts] = []


@contextlib.contextmanager
def part(name: str) -> Iterator[None]:
    """Run one named part of a visible check, e.g. ``"main property"``, ``"edge cases"``,
    ``"errors"``.

    The names are the ones the hidden checks give their points to (the ``check=`` of
    ``@pytest.mark.exercise``), so a learner sees which part of an exercise is missing. A
    part that fails is reported and the check goes on with the next part. Outside a
    ``@visible_check`` a failing part raises as usual.
    """
    if not _current_parts:
        yield
        return
    parts = _current_parts[-1]
    try:
        yield
    except CheckFailure as failure:
        parts.results.append((name, str(failure)))
    else:
        parts.results.append((name, None))


def visible_check(check):
    """Decorate a check body ``check(fn) -> int`` (the number of cases it ran).

    The decorated check prints one line (and raises in strict mode when it fails), so a
    learner sees a sentence rather than a traceback. A body split into ``with part(...)``
    blocks prints one line per part when a part fails, so the learner sees which one.
    """

    @functools.wraps(check)
    def run(fn: Any) -> None:
        # Returns nothing, so a check cell shows its one line and no stray True/False.
        name = getattr(fn, "__name__", repr(fn))
        parts = _Parts()
        _current_parts.append(parts)
        try:
            cases = check(fn)
        except CheckFailure as failure:
            failed_parts = [p for p in parts.results if p[1] is not None]
            _report_failure(name, parts.results + [(None, str(failure))]
                            if failed_parts else [(None, str(failure))])
            return
        finally:
            _current_parts.pop()
        failed_parts = [p for p in parts.results if p[1] is not None]
        if failed_parts:
            _report_failure(name, parts.results)
            return
        suffix = f" ({cases} cases)" if cases else ""
        names = ", ".join(n for n, _ in parts.results)
        print(f"{PASS} {name} passed{suffix}" + (f": {names}." if names else "."))

    return run


def _report_failure(name: str, results: list[tuple[str | None, str | None]]) -> None:
    named = [r for r in results if r[0] is not None]
    messages = {m for _, m in results if m is not None}
    if len(messages) == 1 and "is not implemented yet" in next(iter(messages)):
        named = []  # one line says it all
        results = [(None, next(iter(messages)))]
    if not named:
        message = results[-1][1]
        print(f"{FAIL} {message}")
    else:
        passed = sum(1 for _, m in named if m is None)
        lines = [f"{FAIL} {name}: {passed} of {len(named)} parts pass."]
        for part_name, message in results:
            if part_name is None:
                lines.append(f"  {FAIL} {message}")
            elif message is None:
                lines.append(f"  {PASS} {part_name}")
            else:
                lines.append(f"  {FAIL} {part_name}: {message}")
        message = "\n".join(lines)
        print(message)
    if os.environ.get("COMPRESS_COURSE_STRICT"):
        raise CheckFailure(message)


from .acceleration import *  # noqa: E402,F403
from .baseline import *  # noqa: E402,F403
from .capstone import *  # noqa: E402,F403
from .distillation import *  # noqa: E402,F403
from .low_rank import *  # noqa: E402,F403
from .pruning import *  # noqa: E402,F403
from .quantization import *  # noqa: E402,F403
from .transformers import *  # noqa: E402,F403
