"""Processes: is that one still there, and a worker that never outlives its parent.

The run records and the model registry's clean-up leave something behind when a process is killed (a
``running`` row, a ``.tmp-*`` folder) and must tell a dead owner from a live one before touching it
(:func:`pid_alive`). The bot's worker processes die with it, however it ends (:func:`die_with_parent`).
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

#: ``prctl`` option: the signal the kernel sends this process when its parent dies (Linux).
PR_SET_PDEATHSIG = 1


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (a zombie counts as gone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux ``PR_SET_PDEATHSIG``).

    A worker process (the bot's chart renderer) waits on a queue and would otherwise live on for good after a
    bot killed with SIGKILL — which runs no clean-up code — and keep multiprocessing's resource tracker alive
    with it. Where ``prctl`` is unavailable this does nothing; a parent already gone ends the process now.
    """
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(0)


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``); elsewhere this does nothing.

    A whole-market prediction (torch's threads, pandas' frames) frees hundreds of MB that glibc keeps in
    its arenas, so the next step's allocations stack on top of memory nobody uses: trimming between the
    daily scoring's models takes ~70 MB off its peak (docs/benchmarks.md). It costs milliseconds.
    """
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
