"""Temporary files a killed process left beside the store and in the model folder, removed at start.

Every cache and model file is written under a temporary name and renamed into place, so a kill never
leaves a half-written file under its real name — but it leaves the temporary one, for good:

* beside the store: ``<db>.window.npz.<pid>.tmp`` (the serving window), ``<db>.day.npz.<pid>.tmp`` (the
  stored day) — any ``<db>.*.<pid>.tmp``;
* in the model folder: the registry's ``.tmp-<version>-<pid>`` folders and ``CURRENT.tmp``
  (:meth:`~kstock.ml.registry.ModelRegistry.clean_leftovers`), checkpoints of the sector model and the
  LSTM (``<name>.<pid>.tmp``, older ones ``<name>.tmp``), and the write probe ``.kstock-write-test-<pid>``.

A file is removed only when its writer is certainly gone: its pid names no live process on this host (or
the file is older than :data:`ABANDONED_AFTER_S`, whatever its pid); a file with no pid in its name only
when it is that old. A command or a bot writing right now keeps its files. Every command that opens the
store (:class:`kstock.cli.Context`) and the bot at start call :func:`clean_temp_files`; a file that cannot
be removed (a read-only folder) is left, silently.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from kstock.procs import pid_alive

if TYPE_CHECKING:
    from kstock.config import Settings

log = logging.getLogger(__name__)

#: A temporary file this old is abandoned whoever wrote it (no cache or checkpoint takes this long to write).
ABANDONED_AFTER_S = 3600.0
PROBE_PREFIX = ".kstock-write-test-"


def clean_temp_files(settings: Settings) -> list[Path]:
    """Remove what killed processes left beside the store and in the model folder; returns what went."""
    removed = _store_temps(Path(settings.db_path))
    model_dir = Path(settings.model_dir)
    if model_dir.is_dir():
        from kstock.ml.registry import ModelRegistry

        with contextlib.suppress(OSError):
            removed += ModelRegistry(model_dir).clean_leftovers()
        removed += _temps_in(model_dir, "*.tmp")
        removed += _probes(model_dir)
        checkpoints = model_dir / ".checkpoints"
        if checkpoints.is_dir():
            for folder in [checkpoints, *(p for p in checkpoints.iterdir() if p.is_dir())]:
                removed += _temps_in(folder, "*.tmp")
    if removed:
        log.warning("removed %d temporary file(s) left by a stopped process: %s", len(removed),
                    ", ".join(p.name for p in removed))
    return removed


def _store_temps(db: Path) -> list[Path]:
    """``<db>.<cache>.<pid>.tmp`` files beside the store."""
    if not db.parent.is_dir():
        return []
    return _temps_in(db.parent, f"{_glob_escape(db.name)}.*.tmp")


def _temps_in(folder: Path, pattern: str) -> list[Path]:
    removed = []
    with contextlib.suppress(OSError):
        for path in folder.glob(pattern):
            if path.is_file() and abandoned(path, _pid_of(path.name[: -len(".tmp")])) and _unlink(path):
                removed.append(path)
    return removed


def _probes(folder: Path) -> list[Path]:
    removed = []
    with contextlib.suppress(OSError):
        for path in folder.glob(f"{PROBE_PREFIX}*"):
            pid = path.name[len(PROBE_PREFIX):]
            if path.is_file() and abandoned(path, int(pid) if pid.isdigit() else None) and _unlink(path):
                removed.append(path)
    return removed


def _pid_of(stem: str) -> int | None:
    """The pid in ``<name>.<pid>`` (None when the name carries none)."""
    tail = stem.rsplit(".", 1)[-1] if "." in stem else ""
    return int(tail) if tail.isdigit() else None


def abandoned(path: Path, pid: int | None) -> bool:
    """Whether the writer of ``path`` is certainly gone (see the module docstring)."""
    if pid is not None and pid != os.getpid() and not pid_alive(pid):
        return True
    try:
        return time.time() - path.stat().st_mtime > ABANDONED_AFTER_S
    except OSError:
        return False


def _unlink(path: Path) -> bool:
    try:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return False  # another process cleaned it first
    except OSError as exc:
        log.debug("could not remove %s: %s", path, exc)
        return False
    return True


def _glob_escape(name: str) -> str:
    """``name`` with glob's special characters taken literally."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
