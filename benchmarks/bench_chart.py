"""Chart images for the CNN: numpy rasteriser vs matplotlib, on the same real 60-day windows.

The LASPS design drew every training window with matplotlib, saved ~1M PNG files and spent its
epochs reading them back. kstock rasterises the window in numpy when the batch is built. This
measures both side by side in one run, so the image size and the on-the-fly choice rest on numbers:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_chart.py [--n 512] [--json benchmarks/out/chart.json]

Windows come from ../shared/data/krx/market_2023_2025/*.csv (pykrx dialect; halt rows, i.e.
open = high = low = 0, become NaN); without that folder, from a seeded random walk. Each timing is
repeated and the median reported. matplotlib is timed twice: to PNG bytes (what LASPS stored) and
to an in-memory RGBA array (the most generous matplotlib path: no encoding, no file).
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kstock.features.candle_raster import rasterize_charts

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from _common import publish  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "krx" / "market_2023_2025"
PYKRX_COLUMNS = ["시가", "고가", "저가", "종가", "거래량"]


def load_windows(folder: Path, n: int, days: int, seed: int) -> tuple[np.ndarray, str]:
    """``n`` random ``days``-day OHLCV windows (NaN = halt) from the pykrx CSV folder, or a random walk."""
    rng = np.random.default_rng(seed)
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        return random_walk_windows(rng, n, days), "random walk (data folder absent)"
    import pandas as pd

    windows: list[np.ndarray] = []
    for path in rng.permutation(np.array(files, dtype=object)):
        frame = pd.read_csv(path, encoding="utf-8-sig")
        x = frame[PYKRX_COLUMNS].to_numpy(dtype=float)
        x[(x[:, :3] <= 0).all(axis=1)] = np.nan  # KRX halt rows: open = high = low = 0
        if len(x) < days:
            continue
        for start in rng.integers(0, len(x) - days + 1, size=4):
            window = x[start : start + days]
            if np.isfinite(window[:, 3]).any():  # a wholly halted window has no chart to draw
                windows.append(window)
        if len(windows) >= n:
            break
    return np.stack(windows[:n]), f"{folder} ({len(files)} files)"


def random_walk_windows(rng: np.random.Generator, n: int, days: int) -> np.ndarray:
    close = 10_000 * np.exp(np.cumsum(rng.normal(0, 0.025, (n, days)), axis=1))
    open_ = close * np.exp(rng.normal(0, 0.01, (n, days)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, (n, days))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, (n, days))))
    return np.stack([open_, high, low, close, rng.lognormal(12, 1, (n, days))], axis=-1)


def matplotlib_chart(window: np.ndarray, size: int, png: bool) -> bytes | np.ndarray:
    """A minimal candlestick image of one window with matplotlib, as LASPS made them (no axes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size / 100, size / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    price_ax = fig.add_axes((0, 0.26, 1, 0.74))
    volume_ax = fig.add_axes((0, 0, 1, 0.24), sharex=price_ax)
    ok = np.isfinite(window[:, 3])
    x = np.flatnonzero(ok)
    o, h, lo, c, v = window[ok].T
    colors = np.where(c >= o, "red", "blue")
    price_ax.vlines(x, lo, h, colors=colors, linewidth=0.5)
    for ax, bottom, top in ((price_ax, np.minimum(o, c), np.maximum(o, c)), (volume_ax, 0 * v, v)):
        verts = np.stack([[x - 0.3, bottom], [x - 0.3, top], [x + 0.3, top], [x + 0.3, bottom]]).transpose(2, 0, 1)
        ax.add_collection(PolyCollection(verts, facecolors=colors, linewidths=0))
        ax.autoscale_view()
        ax.set_axis_off()
    price_ax.set_xlim(-0.5, len(window) - 0.5)
    if png:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return buf.getvalue()
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: imports, caches, first-touch page faults
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(args: argparse.Namespace) -> dict:
    windows, source = load_windows(Path(args.data_dir), args.n, args.days, args.seed)
    mpl_windows = windows[: args.mpl_n]
    rows = []
    for size in args.sizes:
        raster = median_seconds(lambda s=size: rasterize_charts(windows, size=s), args.repeats)
        png = median_seconds(lambda s=size: [matplotlib_chart(w, s, png=True) for w in mpl_windows], args.mpl_repeats)
        rgba = median_seconds(lambda s=size: [matplotlib_chart(w, s, png=False) for w in mpl_windows], args.mpl_repeats)
        rates = {"numpy": len(windows) / raster, "mpl_png": len(mpl_windows) / png, "mpl_rgba": len(mpl_windows) / rgba}
        for method, n, seconds in (
            ("numpy", windows, raster),
            ("mpl_png", mpl_windows, png),
            ("mpl_rgba", mpl_windows, rgba),
        ):
            rows.append(
                {
                    "method": method,
                    "size": size,
                    "windows": len(n),
                    "median_s": seconds,
                    "windows_per_s": rates[method],
                    "speedup_vs_mpl_png": rates[method] / rates["mpl_png"],
                    "speedup_vs_mpl_rgba": rates[method] / rates["mpl_rgba"],
                }
            )
    return {
        "source": source,
        "window_days": args.days,
        "repeats": args.repeats,
        "environment": environment(),
        "results": rows,
    }


def environment() -> dict:
    import matplotlib

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "matplotlib": matplotlib.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def markdown(report: dict) -> str:
    lines = [
        f"windows: {report['source']}, {report['window_days']} days each; median of {report['repeats']} runs",
        "",
        "| method | size px | windows | median s | windows/s | × vs mpl PNG | × vs mpl RGBA |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['method']} | {r['size']} | {r['windows']} | {r['median_s']:.4f} | {r['windows_per_s']:,.0f} "
            f"| {r['speedup_vs_mpl_png']:.1f} | {r['speedup_vs_mpl_rgba']:.1f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=512, help="windows rasterised by numpy per run")
    p.add_argument("--mpl-n", type=int, default=48, help="windows drawn by matplotlib per run (it is slow)")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    p.add_argument("--days", type=int, default=60)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--mpl-repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=str(DEFAULT_DATA))
    p.add_argument("--json", default=None, help="write the results here as JSON (folders are created)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = run(args)
    publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()
