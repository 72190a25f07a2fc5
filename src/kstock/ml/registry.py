"""Versioned model artifacts with a promotion gate and an atomic swap.

Layout under ``KSTOCK_MODEL_DIR``::

    <model>/<version>/        one folder per trained version (the model's own files + meta.json)
    <model>/CURRENT           the serving version's name, replaced atomically (write tmp, os.replace)

A version folder is written under a temporary name and renamed into place, so a crash mid-save never
leaves a half-written version visible. Older versions stay on disk (the last ``keep`` of them). A
missing or corrupt artifact makes the model "unavailable" with a reason, never a crash.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kstock.errors import WRITE_FAILED_KO, KstockError, is_write_failure, public_reason
from kstock.ml.metric_names import metric_ko
from kstock.procs import pid_alive

log = logging.getLogger(__name__)

META_FILE = "meta.json"
CURRENT_FILE = "CURRENT"
#: What :meth:`ModelRegistry.pointer` answers for a CURRENT that holds no version name (garbled bytes).
UNREADABLE_POINTER = "(unreadable)"
#: A version folder's name: no path separators, not hidden.
_VERSION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


class RegistryError(KstockError):
    """A model could not be saved; the serving model is untouched."""


@dataclass(frozen=True)
class ModelVersion:
    name: str
    version: str
    path: Path
    meta: dict[str, Any]

    @property
    def trained_at(self) -> str | None:
        return self.meta.get("trained_at")

    def age_days(self, now: dt.datetime | None = None) -> float | None:
        if not self.trained_at:
            return None
        now = now or dt.datetime.now(dt.UTC)
        return (now - dt.datetime.fromisoformat(self.trained_at)).total_seconds() / 86400


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose formats the artifacts depend on (recorded in meta.json)."""
    import importlib.metadata as md

    out = {}
    for lib in ("numpy", "lightgbm", "xgboost", "torch", "kstock"):
        try:
            out[lib] = md.version(lib)
        except md.PackageNotFoundError:
            continue
    return out


class ModelRegistry:
    def __init__(self, root: str | Path, keep: int = 5) -> None:
        self.root = Path(root)
        self.keep = keep
        self._reads: dict[Path, tuple[tuple[int, ...], Any]] = {}  # see _read_cached

    def save(self, name: str, write: Callable[[Path], None], meta: dict[str, Any]) -> ModelVersion:
        """Write a new version (not yet serving): ``write(folder)`` puts the model files in ``folder``."""
        version = _now().strftime("%Y%m%dT%H%M%S%f")
        base = self.root / name
        tmp = base / f".tmp-{version}-{os.getpid()}"  # the pid tells a live writer's folder from a leftover
        final = base / version
        meta = {"name": name, "version": version, "trained_at": _now().isoformat(timespec="seconds"),
                "libraries": library_versions(), **meta}
        try:
            tmp.mkdir(parents=True, exist_ok=False)
            write(tmp)
            # checksums let a loader refuse a truncated file: LightGBM segfaults on one instead of raising
            meta["files"] = {p.relative_to(tmp).as_posix(): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
            (tmp / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2, default=_json_default))
            _fsync_dir(tmp)
            os.replace(tmp, final)
        except BaseException as exc:  # the model's own writer failed: leave no half-written folder behind
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OSError) or is_write_failure(exc):  # disk full, file-size limit, a library's own
                raise RegistryError(f"{WRITE_FAILED_KO}: 새 `{name}` 모델을 저장하지 못했습니다 "  # write error
                                    f"({_short(exc)}); 서비스 중인 모델은 그대로입니다") from exc
            raise
        return ModelVersion(name, version, final, meta)

    def promote(self, version: ModelVersion) -> None:
        """Make ``version`` the serving one: one atomic rename of the CURRENT pointer."""
        pointer = self.root / version.name / CURRENT_FILE
        tmp = pointer.with_suffix(".tmp")
        try:
            tmp.write_text(version.version)
            os.replace(tmp, pointer)
        except OSError as exc:
            # disk full (or read-only) while writing the pointer: CURRENT still names the old version, so say so
            # as save() does rather than surface a bare OSError, and leave no stray CURRENT.tmp behind
            tmp.unlink(missing_ok=True)
            raise RegistryError(f"{WRITE_FAILED_KO}: 서비스 중인 `{version.name}` 모델을 "
                                f"`{version.version}`(으)로 바꾸지 못했습니다 ({_short(exc)}); "
                                "서비스 중인 모델은 그대로입니다") from exc
        self._prune(version.name)

    def current(self, name: str) -> ModelVersion | None:
        """The serving version, or None when there is none (or CURRENT, the folder or meta is unreadable)."""
        version = self.pointer(name)
        if version is None or version == UNREADABLE_POINTER:
            return None
        try:
            return self.get(name, version)
        except (OSError, ValueError):
            return None

    def pointer(self, name: str) -> str | None:
        """The version name CURRENT points at (whether or not that version is readable), None when there is
        no pointer, :data:`UNREADABLE_POINTER` when it holds something that is not a version name (bytes
        that are not UTF-8, a path) — a garbled pointer is a corrupt one, never a crash."""
        try:
            raw = self._read_cached(self.root / name / CURRENT_FILE, Path.read_bytes)
        except OSError:
            return None
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            return UNREADABLE_POINTER
        if not text:
            return None
        return text if _VERSION_NAME.fullmatch(text) else UNREADABLE_POINTER

    def last_good(self, name: str, skip: str | None = None) -> ModelVersion | None:
        """The newest kept version other than ``skip`` whose meta reads and whose files match their checksums:
        what is served while CURRENT is garbled or names a broken version."""
        for version in reversed(self.versions(name)):
            if version == skip:
                continue
            try:
                candidate = self.get(name, version)
            except (OSError, ValueError):
                continue
            if isinstance(candidate.meta.get("files"), dict) and self.verify(candidate) is None:
                return candidate
        return None

    def clean_leftovers(self) -> list[Path]:
        """Remove what killed processes left (``.tmp-*`` folders, ``CURRENT.tmp``): only when the process that
        wrote them is gone, so a training running in another process keeps its folder. Returns what went."""
        removed = []
        for name in self.names():
            for leftover in (self.root / name).glob(".tmp-*"):
                if _abandoned(leftover):
                    shutil.rmtree(leftover, ignore_errors=True)
                    removed.append(leftover)
            stray = self.root / name / (CURRENT_FILE + ".tmp")
            if stray.exists() and _older_than(stray, 60):
                stray.unlink(missing_ok=True)
                removed.append(stray)
        return removed

    def get(self, name: str, version: str) -> ModelVersion:
        path = self.root / name / version
        meta = self._read_cached(path / META_FILE, lambda p: json.loads(p.read_text()))
        return ModelVersion(name, version, path, meta)

    def _read_cached(self, path: Path, parse: Callable[[Path], Any]) -> Any:
        """``parse(path)``, read again only when the file changed. The bot asks for the serving versions a
        dozen times per /analyze (each a CURRENT and a meta.json read); a stat answers instead. The key is
        the file's inode, size and change times; a file changed within the last second is always read
        again, so a second write within one coarse filesystem tick is never missed."""
        st = path.stat()
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        hit = self._reads.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        value = parse(path)
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > 1_000_000_000:
            self._reads[path] = (key, value)
        return value

    def verify(self, version: ModelVersion) -> str | None:
        """None when every file recorded at save time is present and unchanged, else what is wrong."""
        files = version.meta.get("files")
        if not isinstance(files, dict):
            return None  # saved before checksums were recorded
        for rel, digest in files.items():
            try:
                actual = _sha256(version.path / rel)
            except OSError:
                return f"모델 파일 `{rel}`이(가) 없음"
            if actual != digest:
                return f"모델 파일 `{rel}`이(가) 손상됨 (체크섬 불일치)"
        return None

    def versions(self, name: str) -> list[str]:
        base = self.root / name
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def gate(
        self, name: str, candidate: dict[str, float], serving: dict[str, float] | None, metric: str,
        tolerance: float = 0.005,
    ) -> GateDecision:
        """Promote when there is no serving model, or the candidate is no worse than serving − tolerance.

        Both metrics must come from the same validation window (the caller scores the serving model on
        the candidate's validation days), so the comparison is like for like.
        """
        value = candidate.get(metric)
        if value is None or value != value:  # None or NaN
            return GateDecision(False, f"새 모델의 검증 {metric_ko(metric)} 값이 없어 서비스 중인 모델은 그대로입니다")
        if not serving or serving.get(metric) is None or serving[metric] != serving[metric]:
            return GateDecision(True, f"비교할 서비스 모델이 없어 새 모델로 교체했습니다 "
                                      f"({metric_ko(metric)} {value:.4f})")
        old = serving[metric]
        if value >= old - tolerance:
            return GateDecision(True, f"{metric_ko(metric)} {value:.4f}, 서비스 중인 모델 {old:.4f} "
                                      f"(허용 오차 {tolerance}): 새 모델로 교체했습니다")
        return GateDecision(False, f"{metric_ko(metric)} {value:.4f}: 서비스 중인 모델 {old:.4f}보다 {tolerance} 넘게 "
                                   "나빠 서비스 중인 모델은 그대로입니다")

    def _prune(self, name: str) -> None:
        current = self.current(name)
        stale = [v for v in self.versions(name) if current is None or v != current.version]
        for version in stale[: max(0, len(stale) - (self.keep - 1))]:
            shutil.rmtree(self.root / name / version, ignore_errors=True)
        for tmp in (self.root / name).glob(".tmp-*"):
            if _abandoned(tmp):  # left by a process killed mid-save (not one saving right now)
                shutil.rmtree(tmp, ignore_errors=True)


def _abandoned(tmp: Path) -> bool:
    """A ``.tmp-<version>-<pid>`` folder whose writer is gone; a ``.tmp-<version>`` one (no pid: written
    before pids were recorded) always is."""
    pid = tmp.name.rsplit("-", 1)[-1]
    if tmp.name.count("-") >= 2 and pid.isdigit():
        return int(pid) != os.getpid() and not pid_alive(int(pid))
    return True


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def _short(exc: BaseException) -> str:
    """A failed write in a few words for the admin's chat: the system's reason for an OSError, else a Korean
    phrase — a library's own text (XGBoost's "Check failed: std::fwrite…", its stack trace) goes to the log
    only."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    log.warning("a model file could not be written: %s: %s", type(exc).__name__, exc)
    if is_write_failure(exc):
        return "모델 라이브러리가 파일을 끝까지 쓰지 못함, 자세한 내용은 로그"
    return public_reason(exc)


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    for f in path.iterdir():
        if f.is_file():
            with f.open("rb") as fh:
                os.fsync(fh.fileno())


def _json_default(obj: object) -> object:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)
