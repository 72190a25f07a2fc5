"""Daily work that costs the same whether the store holds 2 years or 25 (issue 15):

    PYTHONPATH=src .venv/bin/python benchmarks/bench_window.py [--tickers 2761] [--years 25] [--short-years 2]
                                    [--runs 3] [--cache /tmp/kstock_bench_window] [--json benchmarks/out/window.json]

Each command runs as its own process; wall time and that process's peak RSS (``wait4``) are measured,
the median of ``--runs`` runs quoted. Side by side in the same run, for the same serving models:

* **window** — what kstock does: serving reads the recent window its models need (float32);
* **whole** — the same command with serving reading the whole stored history (the path before this
  issue), by running it through this script with ``prepare_recent_data`` pointed at the whole store.

Rows: ``kstock score`` with all three models serving on a synthetic full market (``--tickers``) over
``--years`` and over ``--short-years`` (the window's cost must not depend on history: within 20 %),
each run without the serving-window file (as after a data update); cold ``kstock analyze`` after the
day's scoring wrote that file and the stored day (``<db>.day.npz``: answered without importing a model
library), with the window file but no stored day (the models loaded and predicting), and with neither;
``--only analyze`` runs these rows alone (the stores and models must exist); the bot's RSS after its
warm-up (features, the day's predictions, one analysis); ``kstock train trees`` peak RSS
(``KSTOCK_TRAIN_YEARS`` default); ``kstock data synth`` itself (streams into the store). The stores and the
small serving models are built once under ``--cache`` and reused (the 25-year store takes minutes; its synth
measurement is kept beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from _common import machine, publish  # noqa: E402

TARGETS = {"score_s": 15.0, "score_mb": 1024.0, "analyze_s": 3.0, "bot_mb": 1536.0, "train_mb": 8192.0,
           "history_ratio": 1.2}
#: Serving models small enough to train in a few minutes on 2 cores (scoring cost does not depend on it).
SMALL_TREES = {"n_estimators": 30}


# -- processes ---------------------------------------------------------------------------------------
def measure(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``cmd``; wall seconds, CPU seconds (user + system) and peak RSS (MB) from ``wait4`` (this child
    only). On a shared box the CPU time is the steadier number: the wall time grows with everyone's load."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out[-3000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "output": out[-2000:]}


def median_of(cmd: list[str], env: dict[str, str], runs: int, before: Any = None) -> dict[str, Any]:
    samples = []
    for _ in range(runs):
        if before is not None:
            before()
        samples.append(measure(cmd, env))
    return {"wall_s": statistics.median(s["wall_s"] for s in samples),
            "cpu_s": statistics.median(s["cpu_s"] for s in samples),
            "peak_rss_mb": statistics.median(s["peak_rss_mb"] for s in samples),
            "runs_wall_s": [s["wall_s"] for s in samples], "runs_cpu_s": [s["cpu_s"] for s in samples],
            "runs_rss_mb": [s["peak_rss_mb"] for s in samples],
            "load_avg_1m_after": round(os.getloadavg()[0], 2)}


def kstock(path: str, *args: str) -> list[str]:
    """``kstock ARGS`` through this script: ``path`` 'window' (kstock as it is) or 'whole' (whole history)."""
    return [sys.executable, str(Path(__file__).resolve()), "--driver", path, *args]


def env_for(root: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_WAIT_POLICY": "PASSIVE",
            "KSTOCK_DB": str(root / "market.db"), "KSTOCK_MODEL_DIR": str(root / "models"),
            "KSTOCK_USE_GPU": "false", "KSTOCK_LOG_LEVEL": "warning"}


# -- the driver (runs inside the measured process) --------------------------------------------------
def driver(path: str, argv: list[str]) -> int:
    sys.path.insert(0, str(REPO / "src"))
    if path == "whole":  # serve from the whole stored history, float32 like the window
        import numpy as np

        from kstock.ml import data
        from kstock.service import context

        def whole(store, settings, days, end=None):
            return data.prepare_model_data(store, settings, end=end, dtype=np.float32)

        context.prepare_recent_data = whole
        context.cached_recent_data = lambda store, settings, days: whole(store, settings, days)
    if argv[:1] == ["warm-bot"]:
        return warm_bot()
    from kstock.cli import main

    return main(argv) or 0


def warm_bot() -> int:
    """The bot's warm-up (features, the day's predictions from every model, one analysis), then its RSS."""
    from kstock.bot import build_application  # noqa: F401 - what the bot process imports
    from kstock.bot.app import warm_up
    from kstock.config import Settings
    from kstock.service.context import Services

    services = Services(Settings.from_env(dotenv=None))
    warm_up(services)
    rss = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    print(json.dumps({"rss_after_warm_up_mb": round(rss / 1024, 1), "days": len(services.model_data().dates)}))
    return 0


# -- setup (cached) ----------------------------------------------------------------------------------
def build_store(root: Path, tickers: int, years: float) -> dict[str, Any]:
    """The synthetic store (``kstock data synth``, measured) unless ``root`` holds it already."""
    meta = root / "synth.json"
    if (root / "market.db").exists() and meta.exists():
        return {**json.loads(meta.read_text()), "reused": True}
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    cmd = [sys.executable, "-m", "kstock", "data", "synth", "--tickers", str(tickers), "--years", str(years)]
    result = {**measure(cmd, env_for(root)), "rows": None}
    import sqlite3

    with sqlite3.connect(root / "market.db") as conn:
        result["rows"] = conn.execute("SELECT COUNT(*) FROM prices").fetchone()[0]
    result["measured_load_avg_1m"] = round(os.getloadavg()[0], 2)
    meta.write_text(json.dumps(result))
    return {**result, "reused": False}


def train_models(root: Path) -> dict[str, Any]:
    """Small serving models: trees through `kstock train trees` (peak RSS measured), the deep models tiny."""
    meta = root / "models.json"
    if meta.exists():
        return {**json.loads(meta.read_text()), "reused": True}
    tuned = root / "models" / "tuned" / "trees.json"
    tuned.parent.mkdir(parents=True, exist_ok=True)
    tuned.write_text(json.dumps({"params": SMALL_TREES}))
    train = measure([sys.executable, "-m", "kstock", "train", "trees"], env_for(root))
    deep = measure([sys.executable, str(Path(__file__).resolve()), "--train-deep"], env_for(root))
    result = {"train_trees": {k: train[k] for k in ("wall_s", "peak_rss_mb")}, "train_load_avg_1m":
              round(os.getloadavg()[0], 2), "deep": {k: deep[k] for k in ("wall_s", "peak_rss_mb")}}
    meta.write_text(json.dumps(result))
    return {**result, "reused": False}


def train_deep() -> int:
    """Tiny LSTM and sector models on the last year, promoted as the serving versions."""
    sys.path.insert(0, str(REPO / "src"))
    import numpy as np

    from kstock.config import Settings
    from kstock.ml.lstm.data import LSTMParams
    from kstock.ml.models import create_model
    from kstock.ml.sector.config import SectorConfig
    from kstock.service.context import Services

    services = Services(Settings.from_env(dotenv=None).with_overrides(train_years=1.0))
    data = services.training_data()
    days = np.zeros(len(data.dates), dtype=bool)
    days[: len(data.dates) - 10] = True
    models = {
        "lstm": create_model("lstm", services.settings, params=LSTMParams(
            hidden_size=16, samples_per_epoch=4096, batch_size=256, max_val_samples=2000, max_epochs=1, patience=1,
            time_budget_s=None), seed=3, progress_bar=False),
        "sector": create_model("sector", services.settings, config=SectorConfig(
            d_model=16, n_heads=2, n_layers=1, batch_size=64, samples_per_epoch=256, phase2_samples_per_sector=16,
            phase1_epochs=1, phase2_epochs=1, phase3_epochs=1, val_max_samples=128, seed=3), checkpoint_dir=False),
    }
    for name, model in models.items():
        model.fit(data, days)
        version = services.registry.save(name, model.save, {"validation": {}, "note": "bench_window small model"})
        services.registry.promote(version)
    return 0


def drop_window_cache(root: Path) -> None:
    """Forget the serving window and the stored day written beside the store (as a data update makes them
    stale)."""
    (root / "market.db.window.npz").unlink(missing_ok=True)
    drop_stored_day(root)


def drop_stored_day(root: Path) -> None:
    """Forget the day's stored scoring only: a cold analyze then loads the models and predicts the day."""
    (root / "market.db.day.npz").unlink(missing_ok=True)


def copy_models(src: Path, dest: Path) -> None:
    """The same serving models for the short store: its scoring differs only in the history stored."""
    if (dest / "models").exists():
        shutil.rmtree(dest / "models")
    shutil.copytree(src / "models", dest / "models")


# -- the run -----------------------------------------------------------------------------------------
def analyze_rows(root: Path, code: str, runs: int) -> dict[str, Any]:
    """Cold ``kstock analyze``: after the day's scoring (window file + stored day), with the window file only
    (the models loaded and predicting), and with neither (the window computed). The stored day must give
    the same text as the models (checked here too, beside the unit test)."""
    env = env_for(root)
    rows = {"analyze_window_uncached": median_of(kstock("window", "analyze", code), env, runs,
                                                 before=lambda: drop_window_cache(root))}
    measure(kstock("window", "score"), env)  # the day's scoring writes both files
    rows["analyze_window_computed"] = median_of(kstock("window", "analyze", code), env, runs,
                                                before=lambda: drop_stored_day(root))
    computed = measure(kstock("window", "analyze", code), env)["output"]
    measure(kstock("window", "score"), env)
    rows["analyze_window"] = median_of(kstock("window", "analyze", code), env, runs)
    stored = measure(kstock("window", "analyze", code), env)["output"]
    rows["analyze_window"]["same_text_as_computed"] = stored == computed
    return rows


def run(args: argparse.Namespace) -> dict[str, Any]:
    cache = Path(args.cache)
    long_root, short_root = cache / f"y{args.years:g}", cache / f"y{args.short_years:g}"
    report: dict[str, Any] = {"machine": machine(), "setup": {"tickers": args.tickers, "years": args.years,
                                                              "short_years": args.short_years, "runs": args.runs}}
    report["synth"] = {"long": build_store(long_root, args.tickers, args.years),
                       "short": build_store(short_root, args.tickers, args.short_years)}
    report["models"] = train_models(long_root)
    copy_models(long_root, short_root)
    code = args.ticker
    if args.only == "analyze":
        report.update(analyze_rows(long_root, code, args.runs))
        return report
    for path in ("window", "whole"):
        for name, root in (("long", long_root), ("short", short_root)):
            # the day's first scoring after a data update: no serving-window file yet
            report[f"score_{path}_{name}"] = median_of(kstock(path, "score"), env_for(root), args.runs,
                                                       before=lambda r=root: drop_window_cache(r))
        if path == "window":
            report.update(analyze_rows(long_root, code, args.runs))
        else:
            report["analyze_whole"] = median_of(kstock(path, "analyze", code), env_for(long_root), args.runs)
        bot = measure(kstock(path, "warm-bot"), env_for(long_root))
        report[f"bot_{path}"] = {**json.loads(bot["output"].strip().splitlines()[-1]), "peak_rss_mb":
                                 bot["peak_rss_mb"], "wall_s": bot["wall_s"]}
    for value in report.values():
        if isinstance(value, dict):
            value.pop("output", None)
    return report


def _cost(m: dict[str, Any]) -> str:
    cpu = f" (CPU {m['cpu_s']:.1f} s)" if "cpu_s" in m else ""
    return f"{m['wall_s']:.1f} s{cpu}, {m['peak_rss_mb']:,.0f} MB"


def _row(what: str, window: str, whole: str, target: str, met: bool | None) -> str:
    return f"| {what} | {window} | {whole} | {target} | {'' if met is None else '✅' if met else '❌'} |"


def markdown(r: dict[str, Any]) -> str:
    s = r["setup"]
    long, short = f"{s['tickers']:,} tickers × {s['years']:g} y", f"{s['short_years']:g} y"
    sw, sx = r["score_window_long"], r["score_whole_long"]
    tw, tx = r["score_window_short"], r["score_whole_short"]
    ratio = sw.get("cpu_s", sw["wall_s"]) / tw.get("cpu_s", tw["wall_s"])
    aw, ax, au = r["analyze_window"], r["analyze_whole"], r["analyze_window_uncached"]
    ac = r["analyze_window_computed"]
    bw, bx = r["bot_window"], r["bot_whole"]
    synth, train = r["synth"]["long"], r["models"]["train_trees"]
    m = r["machine"]
    lines = [f"Machine: {m['cpu_count']} cores, {m['platform']}, Python {m['python']}; load (1 min) "
             f"{m['load_avg_1m']} at start, {sw['load_avg_1m_after']} after the long scoring. "
             f"Medians of {s['runs']} runs; all three models serving (small ones, see the docstring). "
             "Wall time (CPU time of the process), peak RSS.", "",
             "| | window (now) | whole history (before) | target | |", "|---|---:|---:|---|:-:|",
             _row(f"`kstock score`, {long}", _cost(sw), _cost(sx), "≤ 15 s, ≤ 1,024 MB",
                  sw["wall_s"] <= TARGETS["score_s"] and sw["peak_rss_mb"] <= TARGETS["score_mb"]),
             _row(f"`kstock score`, same market × {short}", _cost(tw), _cost(tx),
                  f"25 y within 20 % of it: ×{ratio:.2f} CPU, ×{sw['wall_s'] / tw['wall_s']:.2f} wall, "
                  f"×{sw['peak_rss_mb'] / tw['peak_rss_mb']:.2f} RSS",
                  ratio <= TARGETS["history_ratio"]
                  and sw["peak_rss_mb"] / tw["peak_rss_mb"] <= TARGETS["history_ratio"]),
             _row(f"cold `kstock analyze {s.get('ticker', '005930')}` after the day's scoring, {long}",
                  _cost(aw), _cost(ax), "≤ 3 s", aw["wall_s"] <= TARGETS["analyze_s"]),
             _row("… same, the stored day absent (models loaded, the day predicted)", _cost(ac), "", "", None),
             _row("… before the day's scoring (window computed, not read back)", _cost(au), "", "", None),
             _row(f"bot RSS after warm-up, {long}", f"{bw['rss_after_warm_up_mb']:,.0f} MB ({bw['days']} days)",
                  f"{bx['rss_after_warm_up_mb']:,.0f} MB ({bx['days']} days)", "≤ 1,536 MB",
                  bw["rss_after_warm_up_mb"] <= TARGETS["bot_mb"]),
             _row(f"`kstock train trees` peak RSS, {long} (KSTOCK_TRAIN_YEARS=10)",
                  f"{train['peak_rss_mb']:,.0f} MB ({train['wall_s']:.0f} s)", "—", "≤ 8,192 MB",
                  train["peak_rss_mb"] <= TARGETS["train_mb"]),
             _row(f"`kstock data synth`, {long} ({synth['rows']:,} rows)",
                  f"{synth['wall_s']:.0f} s, {synth['peak_rss_mb']:,.0f} MB", "55 s, 8,900 MB (issue)", "streams",
                  None)]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tickers", type=int, default=2761, help="synthetic instruments (default 2761, the KRX)")
    p.add_argument("--years", type=float, default=25.0, help="years of the long store (default 25)")
    p.add_argument("--short-years", type=float, default=2.0, help="years of the short store (default 2)")
    p.add_argument("--runs", type=int, default=3, help="runs per command, median quoted (default 3)")
    p.add_argument("--ticker", default="005930", help="the code `analyze` asks for")
    p.add_argument("--only", choices=("all", "analyze"), default="all", help="run every row, or the cold analyze "
                   "rows alone (default all)")
    p.add_argument("--cache", default="/tmp/kstock_bench_window", help="stores and models, built once, reused")
    p.add_argument("--json", help="write results here (default benchmarks/out/window.json; with --only analyze "
                   "window_analyze.json, so the full report run_all reads is never replaced by a partial one)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--driver"]:
        return driver(argv[1], argv[2:])
    if argv[:1] == ["--train-deep"]:
        return train_deep()
    args = parse_args(argv)
    if args.json is None:
        name = "window_analyze.json" if args.only == "analyze" else "window.json"
        args.json = str(REPO / "benchmarks" / "out" / name)
    report = run(args)
    report["setup"]["ticker"] = args.ticker
    publish(report, analyze_markdown(report) if args.only == "analyze" else markdown(report), args.json)
    return 0


def analyze_markdown(r: dict[str, Any]) -> str:
    s, m = r["setup"], r["machine"]
    aw = r["analyze_window"]
    lines = [f"Machine: {m['cpu_count']} cores, {m['platform']}; load (1 min) {m['load_avg_1m']} at start, "
             f"{aw['load_avg_1m_after']} after. Medians of {s['runs']} runs; cold `kstock analyze {s['ticker']}`, "
             f"{s['tickers']:,} tickers × {s['years']:g} y, all three models serving. "
             f"Stored day gives the models' text: {aw['same_text_as_computed']}.", "",
             "| cold `kstock analyze` | wall (CPU), peak RSS | runs wall / CPU s |", "|---|---:|---|"]
    for key, what in (("analyze_window", "after the day's scoring (window file + stored day)"),
                      ("analyze_window_computed", "window file, no stored day (models loaded, day predicted)"),
                      ("analyze_window_uncached", "neither (window computed)")):
        v = r[key]
        lines.append(f"| {what} | {_cost(v)} | {v['runs_wall_s']} / {v['runs_cpu_s']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
