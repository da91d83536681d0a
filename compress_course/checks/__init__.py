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

from .. import i18n
from ..i18n import _

# Compile the message catalog now when the messages will not be English, so that a grader's
# fork server, which imports this module once, hands it ready to every grading process.
if i18n.language() != "en":
    i18n.translations()

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
        return _("{dtype} tensor of shape {shape}").format(dtype=dtype, shape=shape)
    if isinstance(value, nn.Module):
        name = type(value).__name__
        if isinstance(value, (nn.Linear, nn.Conv2d, nn.BatchNorm2d)):
            return repr(value)
        n = sum(p.numel() for p in value.parameters())
        return _("{name} with {count:,} parameters").format(name=name, count=n)
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


_NOT_IMPLEMENTED: set[str] = set()  # the messages saying a function is not implemented yet


def not_implemented(fn: Any) -> CheckFailure:
    """The failure to raise when the learner's ``fn`` (or the function named ``fn``) still
    raises NotImplementedError."""
    message = _("{name} is not implemented yet: replace `raise NotImplementedError()` with "
                "your code.").format(
        name=fn if isinstance(fn, str) else getattr(fn, "__name__", "function"))
    _NOT_IMPLEMENTED.add(message)
    return CheckFailure(message)


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
        raise not_implemented(fn) from None
    except CheckFailure:
        raise
    except Exception as error:
        raise CheckFailure(_("{call} raised {error_type}: {error}").format(
            call=call_text, error_type=type(error).__name__, error=error)) from error
    for position, (before, arg) in enumerate(zip(snapshots, args, strict=True)):
        if position not in modifies and before is not None and not _unchanged(before, arg):
            raise CheckFailure(_("{call} modified its argument #{position} ({argument}); it "
                                 "must leave its inputs unchanged.").format(
                call=call_text, position=position + 1, argument=describe(arg)))
    return result


def expect_value_error(fn: Any, *args: Any, argument: str, **kwargs: Any) -> None:
    """Expect ``fn(*args, **kwargs)`` to raise a ValueError whose message names ``argument``."""
    call_text = signature(fn, args, kwargs)
    try:
        fn(*args, **kwargs)
    except NotImplementedError:
        raise not_implemented(fn) from None
    except ValueError as error:
        expect(argument in str(error),
               _("{call} raised ValueError({message!r}); the message should name the argument "
                 "`{argument}`.").format(call=call_text, message=str(error), argument=argument))
        return
    except Exception as error:
        raise CheckFailure(_("{call} raised {error_type}: {error}; expected a ValueError naming "
                             "`{argument}`.").format(call=call_text,
                                                     error_type=type(error).__name__,
                                                     error=error, argument=argument)) from error
    raise CheckFailure(_("{call} returned normally; expected a ValueError naming "
                         "`{argument}`.").format(call=call_text, argument=argument))


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
    ``@pytest.mark.exercise``), so a learner sees which part of an exercise is missing; they
    stay English identifiers here and are translated where they are shown (``part_label``). A
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
        names = part_list([n for n, _message in parts.results])
        if cases and names:
            line = _("{name} passed ({cases} cases): {parts}.")
        elif cases:
            line = _("{name} passed ({cases} cases).")
        elif names:
            line = _("{name} passed: {parts}.")
        else:
            line = _("{name} passed.")
        print(f"{PASS} " + line.format(name=name, cases=cases, parts=names))

    return run


def part_label(name: str) -> str:
    """A part's name as the learner reads it (translated when the catalog has it).

    A part's name is an identifier in the code (``part("errors")`` here, ``check="errors"``
    in the hidden checks, the same names); ``make messages`` extracts the names given to
    ``part(...)`` into the catalog, and ``tests/test_messages.py`` checks that every
    ``check=`` of the hidden checks is among them."""
    return _(name)


def part_list(names: list[str]) -> str:
    """Part names joined for a sentence: ``main property, errors``."""
    # NOTE: separator between the names of the parts of a check ("main property, errors").
    return _(", ").join(part_label(n) for n in names)


def _report_failure(name: str, results: list[tuple[str | None, str | None]]) -> None:
    named = [r for r in results if r[0] is not None]
    messages = {m for _name, m in results if m is not None}
    if len(messages) == 1 and next(iter(messages)) in _NOT_IMPLEMENTED:
        named = []  # one line says it all
        results = [(None, next(iter(messages)))]
    if not named:
        message = results[-1][1]
        print(f"{FAIL} {message}")
    else:
        passed = sum(1 for _name, m in named if m is None)
        lines = [f"{FAIL} " + _("{name}: {passed} of {total} parts pass.").format(
            name=name, passed=passed, total=len(named))]
        for part_name, message in results:
            if part_name is None:
                lines.append(f"  {FAIL} {message}")
            elif message is None:
                lines.append(f"  {PASS} {part_label(part_name)}")
            else:
                lines.append(f"  {FAIL} " + _("{part}: {message}").format(
                    part=part_label(part_name), message=message))
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
