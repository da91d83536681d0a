"""Imported once by the fork server: pytest, hypothesis and the course's hidden checks.

Importing this module loads the grading profile of hypothesis first (``@settings`` on a
test copies the profile loaded when its module is imported), then every
``tests/exercises/test_*.py`` under the name pytest gives it (``test_01_pruning``), so
that a grading process forked from the server finds them already imported. A check file
that fails to import is skipped here; the grading process imports it again and reports
the error.
"""

from __future__ import annotations

import gc
import importlib
import sys
from pathlib import Path

import _hypothesis_pytestplugin  # noqa: F401 - imported here, once, not by every grading process
import pytest  # noqa: F401
from _pytest.config import default_plugins
from tqdm import tqdm

from .notebook import DEFAULT_TESTS
from .plugin import load_grading_profile

# The plugins a grading process's pytest loads (its own and the installed ones it keeps; the
# grading process blocks nbval, whose import alone costs seconds of CPU).
GRADING_PLUGINS = [f"_pytest.{name}" for name in default_plugins] + [
    "compress_course.pytest_plugin"]

# module name -> (folder of the hidden checks it came from, its file's mtime and size then)
PRELOADED: dict[str, tuple[str, int, int]] = {}


def _preload(folder: Path) -> None:
    if not folder.is_dir():
        return
    sys.path.insert(0, str(folder))
    try:
        for path in sorted(folder.glob("test_*.py")):
            try:
                stat = path.stat()
                _seed_property_tests(importlib.import_module(path.stem))
                PRELOADED[path.stem] = (str(folder), stat.st_mtime_ns, stat.st_size)
            except BaseException:  # noqa: BLE001 - the grading process will report it
                sys.modules.pop(path.stem, None)
    finally:
        sys.path.remove(str(folder))


def _seed_property_tests(module) -> None:
    """Give each derandomized property test of ``module`` its seed now, once.

    With ``derandomize`` hypothesis seeds a test from a digest of its source, and computes
    that digest (``inspect.getsource``, tokenize, parse) twice on every run of the test:
    about 1 ms per test in every grading process. The same digest, taken here in the
    server, gives the same seed, so the same examples run.
    """
    from hypothesis.internal.compat import int_from_bytes
    from hypothesis.internal.reflection import function_digest

    for test in vars(module).values():
        inner = getattr(getattr(test, "hypothesis", None), "inner_test", None)
        settings = getattr(test, "_hypothesis_internal_use_settings", None)
        if inner is None or settings is None or not settings.derandomize or \
                getattr(test, "_hypothesis_internal_use_seed", 0) is not None:
            continue
        digest = function_digest(inner)
        test._hypothesis_internal_use_seed = int_from_bytes(digest)
        test._hypothesis_internal_database_key = digest


def _short_seed_stacks() -> None:
    """Make ``torch.manual_seed`` cheap in grading processes and sandboxes.

    On a machine without the accelerator, each call queues the seed for ``torch.cuda``,
    ``torch.xpu`` and ``torch.mtia`` together with the caller's whole formatted stack (for an
    error message if that device's lazy start fails later): under pytest and hypothesis,
    about 0.5 ms per call, and the checks seed thousands of times. The seeds are still
    queued; only the stack kept with them is cut to its last frames.
    """
    import traceback
    import types

    import torch

    short = types.SimpleNamespace(**{name: getattr(traceback, name) for name in dir(traceback)
                                     if not name.startswith("__")})
    short.format_stack = lambda f=None, limit=None: traceback.format_stack(f, limit=4)
    for name in ("cuda", "xpu", "mtia"):
        module = getattr(torch, name, None)
        if module is not None and getattr(module, "traceback", None) is traceback:
            module.traceback = short


def _huge_pages() -> None:
    """Back the server's anonymous memory with 2 MiB pages where Linux allows it.

    Every grading process, sandbox and gloo rank is a fork of this server, and a fork copies
    the parent's page tables; exiting tears the copy down. With about 260 MB of anonymous
    memory (torch's own data, the imported modules) in 4 KiB pages, that was about 11 ms of
    kernel CPU per process, some 50 processes per submission. With 2 MiB pages the tables
    are 512 times smaller (a page the child then writes to is split and copied in 4 KiB
    pieces, as before). Only what is there now is collapsed (``MADV_COLLAPSE``); later
    allocations keep the system's policy. Best effort: it needs Linux 6.1 and transparent
    huge pages not set to ``never``; elsewhere nothing changes.
    """
    import ctypes

    madv_collapse, huge = 25, 2 * 2**20
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        madvise = libc.madvise
        madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        with open("/proc/self/maps") as maps:
            regions = [line.split() for line in maps]
    except (OSError, AttributeError):
        return
    for fields in regions:
        if len(fields) < 5 or not fields[1].startswith("rw") or \
                (len(fields) > 5 and fields[5] != "[heap]"):
            continue  # only the heap and anonymous mappings (not files, not the stack)
        low, high = (int(x, 16) for x in fields[0].split("-"))
        start, end = -(-low // huge) * huge, high // huge * huge
        if end - start >= huge:
            madvise(start, end - start, madv_collapse)


def forget_other_checks(folders: set[str]) -> None:
    """Drop preloaded checks that do not come from ``folders`` (private checks of the same
    name must be imported from their own files), or whose file changed since the server
    imported it (a long-lived server must not grade with stale checks)."""
    for name, (folder, mtime, size) in list(PRELOADED.items()):
        try:
            stat = (Path(folder) / f"{name}.py").stat()
            fresh = (stat.st_mtime_ns, stat.st_size) == (mtime, size)
        except OSError:
            fresh = False
        if folder not in folders or not fresh:
            sys.modules.pop(name, None)
            del PRELOADED[name]


load_grading_profile()
_short_seed_stacks()
# tqdm's first progress bar creates a multiprocessing lock. In a process forked from here
# (start method "forkserver") that lock is a named semaphore registered with the resource
# tracker, and a sandbox's os._exit left it there to be reported as leaked. Created here,
# under the "fork" default, it is unlinked at once and inherited by every child.
tqdm.get_lock()
for _plugin in GRADING_PLUGINS:
    try:
        importlib.import_module(_plugin)
    except ImportError:  # not installed, or not a module of this pytest version
        pass
_preload(DEFAULT_TESTS)
# Everything imported so far lives as long as the server: keep it out of the garbage
# collector's way in every process forked from here (collections then walk only new objects),
# and collect again from now on (``pause_gc`` stopped collections while the server imported).
gc.freeze()
gc.enable()
_huge_pages()
