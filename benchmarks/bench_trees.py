"""The tree models on real KRX data: training time, inference, and `/analyze` latency with SHAP and chart.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_trees.py [--db FILE] [--no-baseline]

Data: ``--db`` (default /tmp/kstock_bench_kospi.db); imported from ``../shared/data/krx/kospi_2020_2026``
when the file does not exist. Side by side in one run:

- **features**: ``prepare_model_data`` — the 30 features and labels for the whole panel;
- **train**: ``TreePredictor(TreeParams()).fit`` on every day with the default parameters (eight boosters:
  LightGBM and XGBoost × {up-probability, rank score × three seeds}, 2 threads; target < 60 s), beside the *baseline* of
  the same models on every day instead of every second one (``day_stride=1``, the previous default);
- **retrain**: ``retrain(services, "trees")`` end to end — fit, 60-day validation, gate, save, promote;
- **inference**: the whole market for one day, and one ticker's row;
- **daily scoring**: ``kstock score`` in a fresh process, as the daily job runs it: wall time and peak RSS;
- **analyze** (warm, target p50 < 150 ms): ``analyze()`` + ``format_analysis`` for random tickers — the
  ensemble, the three SHAP reasons and the Korean text; **chart**: the PNG the bot sends (target < 300 ms).

Prints a markdown table and writes JSON (``--json``, default benchmarks/out/trees.json).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, REPO, ensure_kospi_db, latency_summary, machine, publish, timed

from kstock.config import Settings
from kstock.market.store import MarketStore
from kstock.ml.data import prepare_model_data
from kstock.ml.trees import TreeParams, TreePredictor


def bench_training(data: Any, params: TreeParams) -> tuple[dict[str, Any], TreePredictor]:
    model = TreePredictor(params, n_jobs=2)
    all_days = np.ones(len(data.dates), dtype=bool)
    info, wall, cpu = timed(lambda: model.fit(data, all_days))
    return {"day_stride": params.day_stride, "n_estimators": params.n_estimators, "wall_s": wall, "cpu_s": cpu,
            "train_samples": int(info["train_samples"])}, model


def bench_inference(data: Any, model: TreePredictor, calls: int, rng: np.random.Generator) -> dict[str, Any]:
    last = np.array([len(data.dates) - 1])
    model.predict_days(data, last)
    market = [timed(lambda: model.predict_days(data, last))[1] for _ in range(5)]
    rows = model.day_rows(data, len(data.dates) - 1)  # the model's feature set
    rows = rows[np.isfinite(rows).all(axis=1)]
    picks = rows[rng.integers(len(rows), size=calls)]
    one = [timed(lambda r=r: model.predict_matrix(r[None, :]))[1] for r in picks]
    shap = [timed(lambda r=r: model.contributions(r))[1] for r in picks]
    return {"whole_market_day_ms": float(np.median(market) * 1000), "tickers": len(data.panel.codes),
            "one_ticker": latency_summary(one), "shap_one_ticker": latency_summary(shap)}


def bench_service(db: Path, calls: int, rng: np.random.Generator) -> dict[str, Any]:
    from kstock.charts.analysis import draw_analysis
    from kstock.service.analyze import analyze
    from kstock.service.context import Services
    from kstock.service.presenters import format_analysis
    from kstock.service.retrain import retrain

    with tempfile.TemporaryDirectory(prefix="kstock-bench-trees-") as models:
        settings = Settings.from_env({}, dotenv=None).with_overrides(db_path=db, model_dir=Path(models))
        services = Services(settings)
        result, wall, _ = timed(lambda: retrain(services, "trees"))
        data = services.model_data()
        codes = [c for c, ok in zip(data.panel.codes, data.universe & data.panel.traded[:, -1], strict=True) if ok]
        picks = [codes[i] for i in rng.integers(len(codes), size=calls + 5)]
        for code in picks[:5]:  # warm: serving model loaded, day prediction cached, SHAP explainer built
            format_analysis(analyze(services, code))
        texts = [timed(lambda c=c: format_analysis(analyze(services, c)))[1] for c in picks[5:]]
        charts = [timed(lambda c=c: draw_analysis(analyze(services, c, chart=True).chart))[1] - t
                  for c, t in zip(picks[5:5 + min(calls, 30)], texts[:30], strict=False)]
        services.close()
        scoring = bench_daily_scoring(db, Path(models))
    return {"retrain": {"status": result.status, "wall_s": wall, "rank_ic": result.metrics.get("rank_ic_mean")},
            "analyze_warm": latency_summary(texts), "chart_png": latency_summary(charts), "daily_scoring": scoring}


def bench_daily_scoring(db: Path, models: Path) -> dict[str, Any]:
    """``kstock score`` as the daily job runs it, in a fresh process: wall time and peak resident memory."""
    import resource

    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "KSTOCK_MODEL_DIR": str(models)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kstock", "score", "--db", str(db)], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode != 0:
        raise SystemExit(f"kstock score failed:\n{done.stderr[-2000:]}")
    return {"wall_s": wall, "peak_rss_mb": peak_kb / 1024, "peak_rss_before_mb": before / 1024,
            "models": sorted(p.name for p in models.iterdir() if p.is_dir())}


def run(args: argparse.Namespace) -> dict[str, Any]:
    imported = ensure_kospi_db(args.db)
    settings = Settings.from_env({}, dotenv=None)
    data, features_s, _ = timed(lambda: prepare_model_data(MarketStore(args.db), settings))
    rng = np.random.default_rng(0)
    report: dict[str, Any] = {"machine": machine(), "db": str(args.db), "import_s": imported,
                              "panel": f"{len(data.panel.codes)} tickers × {len(data.dates)} days",
                              "features_s": features_s}
    report["train"], model = bench_training(data, TreeParams())
    if not args.no_baseline:
        report["train_baseline"], _ = bench_training(data, TreeParams(day_stride=1))
    report["inference"] = bench_inference(data, model, args.calls, rng)
    report.update(bench_service(args.db, args.calls, rng))
    return report


def markdown(r: dict[str, Any]) -> str:
    t, inf = r["train"], r["inference"]
    rows = [("features + labels, whole panel", f"{r['features_s']:.1f} s", ""),
            (f"train {2 + 2 * TreeParams().score_seeds} boosters (default: every 2nd day)", f"{t['wall_s']:.1f} s",
             f"< 60 s; {t['train_samples']:,} samples, CPU {t['cpu_s']:.0f} s")]
    if "train_baseline" in r:
        b = r["train_baseline"]
        rows.append(("baseline: every day (day_stride=1)", f"{b['wall_s']:.1f} s",
                     f"{b['train_samples']:,} samples, × {b['wall_s'] / t['wall_s']:.1f} slower"))
    rows += [("retrain trees end to end (fit, validate, save)", f"{r['retrain']['wall_s']:.1f} s",
              f"{r['retrain']['status']}, val Rank IC {r['retrain']['rank_ic'] or float('nan'):.3f}"),
             ("predict whole market, one day", f"{inf['whole_market_day_ms']:.0f} ms", f"{inf['tickers']} tickers"),
             ("predict one ticker", f"{inf['one_ticker']['p50_ms']:.2f} ms", "p50"),
             ("TreeSHAP one ticker", f"{inf['shap_one_ticker']['p50_ms']:.2f} ms", "p50"),
             ("/analyze warm (ensemble + SHAP + text)", f"{r['analyze_warm']['p50_ms']:.0f} ms",
              f"< 150 ms; p99 {r['analyze_warm']['p99_ms']:.0f} ms"),
             ("chart PNG", f"{r['chart_png']['p50_ms']:.0f} ms", f"< 300 ms; p99 {r['chart_png']['p99_ms']:.0f} ms"),
             ("daily scoring (`kstock score`, new process)", f"{r['daily_scoring']['wall_s']:.1f} s",
              f"peak memory {r['daily_scoring']['peak_rss_mb']:,.0f} MB")]
    lines = [f"trees on {r['panel']} (load {r['machine']['load_avg_1m']})", "",
             "| step | median | notes |", "|---|---:|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "kstock_bench_kospi.db")
    p.add_argument("--calls", type=int, default=100, help="timed analyze / inference calls")
    p.add_argument("--no-baseline", action="store_true", help="skip the every-day baseline fit (~2 min)")
    p.add_argument("--json", type=Path, default=OUT / "trees.json")
    args = p.parse_args(argv)
    report = run(args)
    publish(report, markdown(report), args.json)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"({time.perf_counter() - started:.0f} s)")
