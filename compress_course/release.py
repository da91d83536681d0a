"""Moved to ``compress_course.grader.release``; this name stays for older imports."""

from .grader.release import *  # noqa: F403
from .grader.release import (  # noqa: F401
    BEGIN,
    END,
    KERNELSPEC,
    NOTEBOOKS,
    SOLUTIONS,
    ReleaseError,
    blank_solution,
    dumps,
    release,
    release_notebook,
    strip_outputs,
)
