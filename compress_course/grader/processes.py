"""The fork server every grading process and every sandbox is forked from (stdlib only).

Kept free of torch so that the coordinator (the CLI) stays small: only the server imports
the heavy modules, once.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

_context = None
# Everything a lesson's setup cell imports, and what grading itself needs, imported once in
# the fork server, so a grading process or a sandbox starts in milliseconds instead of
# re-importing torch, matplotlib, pytest and the hidden checks. compress_course.cli too: the
# server's children run the main module again (multiprocessing does), which imports it.
# torch._dynamo is imported lazily by the first optimizer step and by DistributedDataParallel
# (with sympy and torch.distributed, about 1.5 s of CPU): in every sandbox and rank unless here.
# pause_gc comes first: no garbage collection while the rest is imported (see its docstring).
PRELOAD = ["compress_course.grader.pause_gc", "torch", "torch._dynamo", "numpy",
           "matplotlib.pyplot", "tqdm.auto", "compress_course.checks", "compress_course.data",
           "compress_course.measure", "compress_course.models", "compress_course.plots",
           "compress_course.training", "compress_course.parallel", "compress_course.grading",
           "compress_course.cli", "compress_course.grader.sandbox", "compress_course.grader.warm"]


def mp_context():
    """The ``forkserver`` context, its server preloaded (see ``PRELOAD``).

    In a grading process (one the server itself started, see ``adopt_server``) sandboxes
    are forked by that same server. Anywhere else the first ``Process.start()`` starts the
    server, and starts it again if it died.
    """
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        if not _adopted:
            _context.set_forkserver_preload(PRELOAD)
    return _context


def _check_main_module() -> None:
    """Refuse to start when the server's children could not: each runs the main module's
    file again (as any ``multiprocessing`` child does), so a script read from standard input
    (``python -``) would make every grading process fail and every learner score 0."""
    import sys

    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if path is not None and not os.path.exists(path):
        raise RuntimeError(
            f"grading cannot start from this script ({path}): the grader's processes run the "
            "main module's file again, and there is no file. Save the script to a file and "
            "run that (guarding its entry point with if __name__ == \"__main__\":), or use "
            "python -c or the compress-course command.")


def start_server() -> None:
    """Start this process's fork server now (or again, if it died).

    The server is started with glibc's ``malloc.hugetlb`` tunable: malloc then asks for 2 MiB
    pages for the memory torch and the imports allocate, which halves the page faults of
    the server's start (about 0.4 s of kernel CPU) and, with ``warm._huge_pages``, keeps
    its page tables small for every fork. Only the server's environment gets it; glibc
    before 2.35 ignores it.
    """
    from multiprocessing import forkserver

    _check_main_module()
    mp_context()
    before = os.environ.get("GLIBC_TUNABLES")
    os.environ["GLIBC_TUNABLES"] = ":".join(filter(None, [before, "glibc.malloc.hugetlb=1"]))
    try:
        forkserver.ensure_running()
    finally:
        if before is None:
            del os.environ["GLIBC_TUNABLES"]
        else:
            os.environ["GLIBC_TUNABLES"] = before


_adopted = False
_server: int | None = None  # the pid of the server a grading process was forked from


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")
    except (OSError, IndexError):
        return False


def adopt_server(pid: int) -> None:
    """In a process the fork server started: fork sandboxes from that server (pid ``pid``).

    Its address and "alive" pipe are inherited; only its pid is unknown to
    multiprocessing, which would otherwise start a second server and import everything
    again. If the server dies (a hostile sandbox may kill it), this process starts its own.
    """
    global _adopted, _context
    from multiprocessing import forkserver, resource_tracker

    server = forkserver._forkserver
    if server._forkserver_address is None or server._forkserver_alive_fd is None:
        return
    original = type(server).ensure_running

    def ensure_running() -> None:
        if _alive(pid):
            resource_tracker.ensure_running()
            return
        del server.ensure_running  # the server is gone: start our own from now on
        server._forkserver_address = server._forkserver_alive_fd = None
        multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
        original(server)

    server.ensure_running = ensure_running
    _adopted, _context = True, None
    global _server
    _server = pid


def _noop() -> None:
    pass


def revive_server() -> None:
    """In a grading process whose fork server died (a hostile sandbox may kill it): start
    the replacement now, and wait until it forks, so that the next check's time limit
    does not pay for its imports (under load, tens of seconds)."""
    global _server
    if not _adopted or _server is None or _alive(_server):
        return
    process = mp_context().Process(target=_noop, name="revive-fork-server", daemon=True)
    try:
        process.start()  # starts the new server: returns once it has imported PRELOAD
        process.join(5)
    except (OSError, EOFError):  # it died again: the next sandbox start retries
        return
    _server = server_pid()


def server_pid() -> int | None:
    """The pid of this process's fork server, once started."""
    from multiprocessing import forkserver

    return forkserver._forkserver._forkserver_pid


def start_watchdog(pid: int, period: float = 0.5) -> None:
    """End this process once process ``pid`` (the one it works for) is gone.

    Children are forked from the fork server, not from the grading process, so nothing
    else stops a child that loops after its grading process was killed.
    """
    def watch():
        while True:
            time.sleep(period)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(3)
            except PermissionError:  # alive, but owned by another user (we dropped to nobody)
                pass

    threading.Thread(target=watch, name="grader-watchdog", daemon=True).start()


def shutdown() -> None:
    """Stop this process's fork server and wait for it (its CPU time then counts as ours).

    The server reaps the grading processes and sandboxes it forked, so after this
    ``resource.getrusage(RUSAGE_CHILDREN)`` (or ``/usr/bin/time``) covers the whole run.
    """
    global _context
    from multiprocessing import forkserver

    server = forkserver._forkserver
    if server._forkserver_pid is not None:
        server._stop()
    _context = None
