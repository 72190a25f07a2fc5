"""The /analyze chart PNG on real data, with everything it draws: candles, moving averages, volume in 만/억,
the call in the margin, 60 days of past calls and the KOSPI-relative panel.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_analysis_chart.py [--charts 40] [--json F]

Frames: the last 250 rows before a random date of random tickers in ../shared/data/krx/kospi_2020_2026
(FinanceDataReader dialect) with KOSPI from index/kospi.csv; without that folder, a seeded random walk.
Each chart is drawn in this process (what a chart worker does), after one warm-up draw. Target: p50 < 300 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kstock.charts.analysis import render_analysis_chart

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _common import latency_summary, machine, publish  # noqa: E402

KRX = REPO.parent / "shared" / "data" / "krx"
LABELS = np.array(["BUY", "HOLD", "HOLD", "HOLD", "SELL"])


def real_frames(n: int, rng: np.random.Generator) -> tuple[list[tuple[str, pd.DataFrame]], pd.Series | None, str]:
    folder = KRX / "kospi_2020_2026"
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        return walk_frames(n, rng), None, "random walk (data folder absent)"
    index = pd.read_csv(KRX / "index" / "kospi.csv", index_col="Date", parse_dates=True)["Close"]
    frames = []
    for path in rng.permutation(np.array(files, dtype=object))[: n * 2]:
        raw = pd.read_csv(path, encoding="utf-8-sig", index_col="Date", parse_dates=True)
        raw = raw.rename(columns=str.lower)[["open", "high", "low", "close", "volume"]].astype(float)
        if len(raw) < 300:
            continue
        end = int(rng.integers(260, len(raw)))
        frames.append((path.stem, raw.iloc[end - 250:end]))
        if len(frames) == n:
            break
    return frames, index, f"{folder} ({len(files)} files) + KOSPI"


def walk_frames(n: int, rng: np.random.Generator) -> list[tuple[str, pd.DataFrame]]:
    out = []
    for k in range(n):
        close = 50_000 * np.exp(np.cumsum(rng.normal(0, 0.02, 250)))
        open_ = close * np.exp(rng.normal(0, 0.01, 250))
        frame = pd.DataFrame({"open": open_, "high": np.maximum(open_, close) * 1.01,
                              "low": np.minimum(open_, close) * 0.99, "close": close,
                              "volume": rng.lognormal(13, 0.5, 250)}, index=pd.bdate_range("2024-01-02", periods=250))
        out.append((f"{k:06d}", frame))
    return out


def draw(code: str, frame: pd.DataFrame, market: pd.Series | None, rng: np.random.Generator) -> float:
    calls = [(str(d.date()), str(lab)) for d, lab in zip(frame.index[-60:], rng.choice(LABELS, 60), strict=True)]
    started = time.perf_counter()
    render_analysis_chart(frame, title=f"종목 ({code})", signal=str(rng.choice(LABELS)), signal_date=frame.index[-1],
                          past_calls=calls, market=None if market is None else market.reindex(frame.index))
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--charts", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=str(REPO / "benchmarks" / "out" / "analysis_chart.json"))
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    frames, market, source = real_frames(args.charts, rng)
    draw(*frames[0], market, rng)  # fonts and matplotlib warm
    times = [draw(code, frame, market, rng) for code, frame in frames]
    report = {"source": source, "charts": len(times), "chart_png": latency_summary(times), "machine": machine()}
    s = report["chart_png"]
    table = (f"analysis chart PNG on {source}, {len(times)} charts (load {report['machine']['load_avg_1m']})\n\n"
             f"| chart PNG | p50 {s['p50_ms']:.0f} ms | p99 {s['p99_ms']:.0f} ms | target p50 < 300 ms |")
    publish(report, table, args.json)


if __name__ == "__main__":
    main()
