"""Imported once by the fork server: pytest, hypothesis and the course's hidden checks.

Importing this module loads the grading profile of hypothesis first (``@settings`` on a
test copies the profile loaded when its module is imported), then every
``tests/exercises/test_*.py`` under the name pytest gives it (``test_01_pruning``), so
that a grading process forked from the server finds them already imported. A check file
that fails to import is skipped here; the grading process imports it again and reports
the error.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import _hypothesis_pytestplugin  # noqa: F401 - imported here, once, not by every grading process
import pytest  # noqa: F401

from .notebook import DEFAULT_TESTS
from .plugin import load_grading_profile

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
                importlib.import_module(path.stem)
                PRELOADED[path.stem] = (str(folder), stat.st_mtime_ns, stat.st_size)
            except BaseException:  # noqa: BLE001 - the grading process will report it
                sys.modules.pop(path.stem, None)
    finally:
        sys.path.remove(str(folder))


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
_preload(DEFAULT_TESTS)
