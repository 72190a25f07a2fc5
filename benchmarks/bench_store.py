"""The market store on the real KRX market: import, re-import, panel load, file size, features.

One command, everything side by side in one run:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_store.py [--json benchmarks/out/store.json]

1. import ``../shared/data/krx/market_2023_2025`` (2,761 pykrx files, ~1M rows) with ``tickers.csv``,
   ``krx_industry_2021-12.csv`` and the KOSPI/KOSDAQ index files into a fresh store (target < 30 s);
2. the same import again: idempotent, so 0 rows may change;
3. ``MarketStore.load_panel()`` of the whole market into numpy (target < 2 s, median of 5) beside the naive
   baseline ``pandas.read_sql("SELECT * FROM prices")`` + pivot (checked to give the same closes);
4. the store file size (target < 150 MB);
5. the 30 tabular features for the whole panel, ``kstock.features.tabular.build_features`` (target < 5 s).

Skips with a message (exit 0) when the data folder is absent. The import is timed once (it is not cheap);
the loads and features are medians over repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_KRX = Path(os.environ.get("KSTOCK_KRX_DIR", REPO.parent / "shared" / "data" / "krx"))
TARGETS = {"import_s": 30.0, "load_panel_s": 2.0, "store_mb": 150.0, "features_s": 5.0, "reimport_rows_changed": 0}


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = [timed(fn)[0] for _ in range(repeats)]
    return statistics.median(times), times


def naive_panel(db: Path) -> tuple[np.ndarray, list[str], np.ndarray]:
    """The baseline: everything through pandas, then one pivot per field (halts made NaN by the halted flag)."""
    conn = sqlite3.connect(db)
    try:
        frame = pd.read_sql("SELECT * FROM prices", conn)
    finally:
        conn.close()
    frame.loc[frame["halted"] == 1, ["open", "high", "low", "close", "volume"]] = np.nan
    wide = frame.pivot(index="code", columns="date", values=["open", "high", "low", "close", "volume"])
    codes, dates = list(wide.index), wide["close"].columns.to_numpy()
    ohlcv = np.stack([wide[f].to_numpy() for f in ("open", "high", "low", "close", "volume")], axis=-1)
    return ohlcv, codes, dates


def run(args: argparse.Namespace) -> dict | None:
    krx = Path(args.krx_dir)
    market = krx / "market_2023_2025"
    if not market.is_dir() or not (krx / "tickers.csv").is_file():
        print(f"bench_store: skipped — the real KRX data ({market}) is not present")
        return None

    from kstock.features.tabular import build_features
    from kstock.market.csv_import import import_directory
    from kstock.market.store import MarketStore

    load_before = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="kstock-bench-store-"))
    db = work / "store.db"
    index_files = {"KOSPI": krx / "index" / "kospi.csv", "KOSDAQ": krx / "index" / "kosdaq.csv"}
    options = {"tickers_file": krx / "tickers.csv", "sectors_file": krx / "krx_industry_2021-12.csv",
               "index_files": {k: v for k, v in index_files.items() if v.is_file()}, "progress": False}
    files = len(list(market.glob("*.csv")))
    try:
        with MarketStore(db) as store:
            import_s, first = timed(lambda: import_directory(store, market, **options))
            reimport_s, again = timed(lambda: import_directory(store, market, **options))
        size_mb = db.stat().st_size / 1e6  # closed: the WAL is checkpointed into the file

        with MarketStore(db) as store:
            panel = store.load_panel()  # warm-up (page cache) and the arrays the checks use
            load_s, load_times = median_seconds(store.load_panel, args.repeats)
            kospi = store.load_index("KOSPI")["close"]
            market_close = kospi.reindex(pd.DatetimeIndex(panel.dates)).to_numpy() if len(kospi) else None
            build_features(panel, market_close)  # warm-up
            features_s, feature_times = median_seconds(lambda: build_features(panel, market_close),
                                                       args.feature_repeats)
        naive_s, naive_times = median_seconds(lambda: naive_panel(db), args.naive_repeats)
        naive_ohlcv, naive_codes, _ = naive_panel(db)
        same = naive_codes == panel.codes and np.array_equal(naive_ohlcv, panel.ohlcv, equal_nan=True)
    finally:
        for path in sorted(work.iterdir()):
            path.unlink()
        work.rmdir()

    return {
        "data": str(market),
        "files": files,
        "files_imported": first.files_ok,
        "bad_files": first.bad_files,
        "rows": first.rows_read,
        "tickers": first.tickers,
        "panel_shape": list(panel.ohlcv.shape),
        "halt_days": int(panel.halted.sum()),
        "import_s": import_s,
        "import_rows_changed": first.rows_changed,
        "reimport_s": reimport_s,
        "reimport_rows_changed": again.rows_changed,
        "load_panel_s": load_s,
        "load_panel_runs_s": load_times,
        "naive_read_sql_pivot_s": naive_s,
        "naive_runs_s": naive_times,
        "naive_matches_panel": bool(same),
        "store_mb": size_mb,
        "features_s": features_s,
        "features_runs_s": feature_times,
        "targets": TARGETS,
        "met": {
            "import_s": import_s < TARGETS["import_s"],
            "reimport_rows_changed": again.rows_changed == 0,
            "load_panel_s": load_s < TARGETS["load_panel_s"],
            "store_mb": size_mb < TARGETS["store_mb"],
            "features_s": features_s < TARGETS["features_s"],
        },
        "environment": {**environment(), "loadavg_1m_before": load_before, "loadavg_1m_after": os.getloadavg()[0]},
    }


def environment() -> dict:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "sqlite": sqlite3.sqlite_version,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def markdown(r: dict) -> str:
    ok = lambda key: "yes" if r["met"][key] else "**no**"  # noqa: E731
    n, days, _ = r["panel_shape"]
    env = r["environment"]
    lines = [
        f"data: {r['data']} — {r['files_imported']:,}/{r['files']:,} files, {r['rows']:,} rows, "
        f"panel {n:,} tickers × {days} days, {r['halt_days']:,} halt days"
        + (f"; skipped: {', '.join(f'{a} ({b})' for a, b in r['bad_files'])}" if r["bad_files"] else ""),
        f"machine: {env['cpu_count']} cores, 1-min load average {env['loadavg_1m_before']:.1f} before / "
        f"{env['loadavg_1m_after']:.1f} after (other work on the machine slows every row)",
        "",
        "| measurement | result | target | met |",
        "|---|---:|---:|:---:|",
        f"| import into a fresh store (tickers, sectors, KOSPI/KOSDAQ) | {r['import_s']:.1f} s "
        f"({r['import_rows_changed']:,} rows changed) | < 30 s | {ok('import_s')} |",
        f"| re-import of the same data | {r['reimport_s']:.1f} s, {r['reimport_rows_changed']:,} rows changed "
        f"| 0 changed | {ok('reimport_rows_changed')} |",
        f"| `MarketStore.load_panel()` whole market (median of {len(r['load_panel_runs_s'])}) "
        f"| {r['load_panel_s']:.2f} s | < 2 s | {ok('load_panel_s')} |",
        f"| baseline `pd.read_sql('SELECT * FROM prices')` + pivot (median of {len(r['naive_runs_s'])}) "
        f"| {r['naive_read_sql_pivot_s']:.2f} s ({r['naive_read_sql_pivot_s'] / r['load_panel_s']:.1f}× slower; "
        f"same arrays: {'yes' if r['naive_matches_panel'] else 'NO'}) | – | – |",
        f"| store file size | {r['store_mb']:.1f} MB | < 150 MB | {ok('store_mb')} |",
        f"| `build_features` whole panel (median of {len(r['features_runs_s'])}) | {r['features_s']:.2f} s "
        f"| < 5 s | {ok('features_s')} |",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--krx-dir", default=str(DEFAULT_KRX), help="the real data folder (../shared/data/krx)")
    p.add_argument("--repeats", type=int, default=5, help="load_panel runs (median)")
    p.add_argument("--naive-repeats", type=int, default=3, help="read_sql + pivot runs (median)")
    p.add_argument("--feature-repeats", type=int, default=3, help="build_features runs (median)")
    p.add_argument("--json", default=str(REPO / "benchmarks" / "out" / "store.json"),
                   help="write the results here as JSON (folders are created)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = run(args)
    if report is None:
        return 0
    print(markdown(report))
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
