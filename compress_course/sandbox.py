"""Moved to ``compress_course.grader.sandbox``; this name stays for older imports."""

from .grader.sandbox import *  # noqa: F403
from .grader.sandbox import RemoteFunction, RemoteNotebook, Sandbox, safe_dumps, safe_loads  # noqa: F401
