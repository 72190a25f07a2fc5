"""Helpers shared by the benchmark scripts: the real-data store, timing summaries, the machine, JSON out."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KRX = Path(os.environ.get("KSTOCK_KRX_DIR", REPO.parent / "shared" / "data" / "krx"))
OUT = REPO / "benchmarks" / "out"


def ensure_kospi_db(path: Path) -> float | None:
    """Import ``kospi_2020_2026`` (+ KOSPI/KOSDAQ index) into ``path`` unless it exists; returns seconds."""
    if path.exists():
        return None
    if not (KRX / "kospi_2020_2026").is_dir():
        raise SystemExit(f"real KRX data not found at {KRX}; nothing to benchmark")
    cmd = [sys.executable, "-m", "kstock", "data", "import", str(KRX / "kospi_2020_2026"),
           "--tickers", str(KRX / "tickers.csv"), "--sectors", str(KRX / "krx_industry_2021-12.csv"),
           "--index", f"KOSPI={KRX / 'index' / 'kospi.csv'}", "--index", f"KOSDAQ={KRX / 'index' / 'kosdaq.csv'}",
           "--db", str(path), "--no-progress"]
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    return time.perf_counter() - started


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """Milliseconds: median, p90, p99, max over the calls."""
    ms = np.asarray(seconds) * 1000
    return {"calls": len(ms), "p50_ms": float(np.median(ms)), "p90_ms": float(np.quantile(ms, 0.9)),
            "p99_ms": float(np.quantile(ms, 0.99)), "max_ms": float(ms.max())}


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``(result, wall seconds, process CPU seconds)`` of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def machine() -> dict[str, Any]:
    """What the numbers were measured on (a shared box inflates wall times; the load says how much)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "load_avg_1m": round(load[0], 2)}


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def publish(report: dict[str, Any], table: str, path: str | Path | None) -> None:
    """Print the markdown table and, when ``path`` is given, write the full report there as JSON."""
    print(table)
    if path:
        write_json(Path(path), report)
        print(f"\nwrote {path}")
