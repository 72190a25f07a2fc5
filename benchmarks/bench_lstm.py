"""Attention LSTM on real KRX data: weekly-retrain time, single-ticker latency, walk-forward quality.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_lstm.py                   # train time + latency
    PYTHONPATH=src .venv/bin/python benchmarks/bench_lstm.py --walk-forward    # + LSTM/trees/ensemble folds

Data: ``--db`` (default /tmp/lstm_bench.db); when that file does not exist the ``kospi_2020_2026``
folder of ../shared/data/krx is imported into it first (~15 s). Timings:

- **train**: ``LSTMPredictor(LSTMParams()).fit`` on every day of the panel with the default settings —
  what the weekly retrain does — wall time and the process's CPU time (on a machine shared with
  other jobs the wall time is inflated; CPU seconds ÷ threads is what an idle machine would take).
- **latency**: ``predict_one`` (scale + one forward pass) for one ticker's last 20 days, 200 calls over
  random tickers after a warm-up; median and p99. Also one whole-market day (``predict_days``).
- **walk-forward** (``--walk-forward``): ``walk_forward_folds(dates, 4, start="2022-01-01", embargo=5)``,
  a fresh TreePredictor and LSTMPredictor per fold (``run_folds``), the ensemble with weights chosen on
  earlier folds only (``ensemble_out_of_sample``), all scored by ``score_predictions``.

Prints a markdown table and writes JSON (``--json``, default benchmarks/out/lstm.json; sections of a
previous run that were not re-run are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch/lightgbm load (see kstock.ml)

REPO = Path(__file__).resolve().parents[1]
KRX = REPO.parent / "shared" / "data" / "krx"


def ensure_db(path: Path) -> None:
    if path.exists():
        return
    cmd = [sys.executable, "-m", "kstock", "data", "import", str(KRX / "kospi_2020_2026"),
           "--tickers", str(KRX / "tickers.csv"), "--sectors", str(KRX / "krx_industry_2021-12.csv"),
           "--index", f"KOSPI={KRX / 'index' / 'kospi.csv'}", "--db", str(path), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    subprocess.run(cmd, check=True, env=env)


def load(db: Path) -> tuple[Any, Any, float]:
    from kstock.config import Settings
    from kstock.market.store import MarketStore
    from kstock.ml.data import prepare_model_data

    settings = Settings.from_env({}, dotenv=None)
    t0 = time.perf_counter()
    data = prepare_model_data(MarketStore(db), settings)
    return data, settings, time.perf_counter() - t0


def params_from(args: argparse.Namespace, epochs: int | None, samples: int | None, budget: float | None):
    from kstock.ml.lstm import LSTMParams

    p = LSTMParams(n_threads=args.threads)
    if epochs is not None:
        p.max_epochs = epochs
    if samples is not None:
        p.samples_per_epoch = samples
    if budget is not None:
        p.time_budget_s = budget if budget > 0 else None
    return p


def bench_train(data: Any, args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    from kstock.ml.lstm import LSTMPredictor

    params = params_from(args, args.epochs, args.samples_per_epoch, args.time_budget)
    model = LSTMPredictor(params, seed=0, progress_bar=not args.quiet)
    all_days = np.ones(len(data.dates), dtype=bool)
    wall, cpu = time.perf_counter(), time.process_time()
    metrics = model.fit(data, all_days)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result = model.train_result
    return {
        "params": asdict(params), "wall_s": wall, "cpu_s": cpu, "cpu_s_per_thread": cpu / max(1, params.n_threads),
        "epochs_trained": result.epochs_trained, "best_epoch": result.best_epoch,
        "stopped_reason": result.stopped_reason, "train_samples": result.train_samples,
        "val_samples": result.val_samples, "val_auc": metrics["val_auc"], "val_rank_ic": metrics["val_rank_ic"],
        "history": result.history, "split": model.split,
    }, model


def bench_latency(data: Any, model: Any, n_calls: int, seed: int = 0) -> dict[str, Any]:
    from kstock.ml.lstm import SEQUENCE_LENGTH

    rng = np.random.default_rng(seed)
    last = len(data.dates) - 1
    ok = np.flatnonzero(data.sample_mask(np.eye(1, len(data.dates), last, dtype=bool)[0], need_label=False)[:, last])
    windows = [data.features.values[i, last - SEQUENCE_LENGTH + 1 : last + 1] for i in rng.choice(ok, n_calls)]
    for w in windows[:10]:
        model.predict_one(w)
    times = []
    for w in windows:
        t0 = time.perf_counter()
        model.predict_one(w)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1000
    t0 = time.perf_counter()
    model.predict_days(data, np.array([last]))
    market = time.perf_counter() - t0
    return {"calls": n_calls, "median_ms": float(np.median(ms)), "p99_ms": float(np.quantile(ms, 0.99)),
            "max_ms": float(ms.max()), "whole_market_day_s": market, "tickers_scored": len(ok)}


def walk_forward(data: Any, settings: Any, args: argparse.Namespace) -> dict[str, Any]:
    from kstock.ml.ensemble import ensemble_out_of_sample, fold_weights
    from kstock.ml.evaluation.folds import walk_forward_folds
    from kstock.ml.evaluation.walkforward import OutOfSample, run_folds, score_predictions
    from kstock.ml.lstm import LSTMPredictor
    from kstock.ml.trees import TreePredictor

    folds = walk_forward_folds(data.dates, n_folds=4, start="2022-01-01", embargo=5)
    cache = Path(args.cache_dir) if args.cache_dir else None
    params = params_from(args, args.wf_epochs, args.wf_samples_per_epoch, args.wf_time_budget)
    makers = {"trees": lambda: TreePredictor(n_jobs=args.threads),
              "lstm": lambda: LSTMPredictor(params, seed=0, progress_bar=not args.quiet)}
    oos: dict[str, OutOfSample] = {}
    seconds: dict[str, float] = {}
    for name, make in makers.items():
        path = cache / f"{name}.npz" if cache else None
        if path and path.exists() and not args.refresh:
            z = np.load(path)
            oos[name], seconds[name] = OutOfSample(z["probability"], z["score"]), float(z["seconds"])
            print(f"{name}: out-of-sample predictions from {path}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        oos[name] = run_folds(make, data, folds, lambda i, f, n=name: print(
            f"{n}: fold {i + 1}/{len(folds)} test {data.dates[f.test_start]} … {data.dates[f.test_end]}",
            file=sys.stderr))
        seconds[name] = time.perf_counter() - t0
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(path, probability=oos[name].probability, score=oos[name].score,
                                seconds=seconds[name])
    ens, weights = ensemble_out_of_sample(oos, data, folds)
    per_fold_weights = fold_weights(oos, data, folds)
    oos["ensemble"] = ens
    out: dict[str, Any] = {"folds": [f.describe(data.dates) for f in folds], "lstm_params": asdict(params),
                           "seconds": seconds, "served_weights": weights, "fold_weights": per_fold_weights,
                           "models": {}}
    for name, o in oos.items():
        s = score_predictions(o, data, folds, settings)
        out["models"][name] = {
            "auc": s["auc"], "accuracy": s["accuracy"], "rank_ic_mean": s["rank_ic_mean"],
            "rank_ic_ir": s["rank_ic_ir"], "rank_ic_tradeable_mean": s["rank_ic_tradeable_mean"],
            "top_decile_hit": s["top_decile_hit"],
            "fold_rank_ic": [f["rank_ic_mean"] for f in s["folds"]], "fold_auc": [f["auc"] for f in s["folds"]],
            "backtest_sharpe": [f["backtest"].get("sharpe") for f in s["folds"]],
        }
    return out


def table(report: dict[str, Any]) -> str:
    lines = ["| measure | value |", "|---|---|"]
    if "data" in report:
        d = report["data"]
        lines.append(f"| data | {d['tickers']} tickers × {d['days']} days ({d['first']} … {d['last']}), "
                     f"{d['samples']:,} labelled samples; features + labels {d['prepare_s']:.1f} s |")
    if "train" in report:
        t = report["train"]
        lines += [
            f"| weekly retrain (fit, full panel, {t['params']['n_threads']} threads) | {t['wall_s']:.0f} s wall, "
            f"{t['cpu_s']:.0f} s CPU ({t['cpu_s_per_thread']:.0f} s per thread) |",
            f"| epochs trained / best | {t['epochs_trained']} / {t['best_epoch']} ({t['stopped_reason']}) |",
            f"| validation ({t['split'].get('val_start')} … {t['split'].get('val_end')}) | "
            f"AUC {t['val_auc']:.3f}, Rank IC {t['val_rank_ic']:.4f} |",
        ]
    if "latency" in report:
        lat = report["latency"]
        lines += [f"| single-ticker inference ({lat['calls']} calls) | median {lat['median_ms']:.2f} ms, "
                  f"p99 {lat['p99_ms']:.2f} ms |",
                  f"| whole market, one day ({lat['tickers_scored']} tickers) | {lat['whole_market_day_s']:.2f} s |"]
    if "walk_forward" in report:
        wf = report["walk_forward"]
        lines += ["", "| walk-forward (4 folds, 2022-01 …) | AUC | Rank IC | ICIR | Rank IC t+1 | top-decile hit "
                  "| per-fold Rank IC |", "|---|---|---|---|---|---|---|"]
        for name, m in wf["models"].items():
            folds = ", ".join(f"{v:.4f}" for v in m["fold_rank_ic"])
            lines.append(f"| {name} | {m['auc']:.3f} | {m['rank_ic_mean']:.4f} | {m['rank_ic_ir']:.3f} | "
                         f"{m['rank_ic_tradeable_mean']:.4f} | {m['top_decile_hit']:.3f} | {folds} |")
        lines.append(f"\nensemble weights served: {wf['served_weights']}; per fold (chosen on earlier folds): "
                     f"{wf['fold_weights']}")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db", type=Path, default=Path("/tmp/lstm_bench.db"))
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--epochs", type=int, default=None, help="override LSTMParams.max_epochs for the train timing")
    p.add_argument("--samples-per-epoch", type=int, default=None)
    p.add_argument("--time-budget", type=float, default=None, help="seconds; 0 = none (default: LSTMParams')")
    p.add_argument("--no-train", action="store_true", help="skip the train timing and latency")
    p.add_argument("--calls", type=int, default=200)
    p.add_argument("--walk-forward", action="store_true", help="also run the 4-fold walk-forward")
    p.add_argument("--wf-epochs", type=int, default=None)
    p.add_argument("--wf-samples-per-epoch", type=int, default=None)
    p.add_argument("--wf-time-budget", type=float, default=None)
    p.add_argument("--cache-dir", default=None, help="keep/reuse each model's out-of-sample predictions here")
    p.add_argument("--refresh", action="store_true", help="ignore cached out-of-sample predictions")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--json", type=Path, default=REPO / "benchmarks" / "out" / "lstm.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    ensure_db(args.db)
    data, settings, prepare_s = load(args.db)
    report: dict[str, Any] = json.loads(args.json.read_text()) if args.json.exists() else {}
    import torch

    report["environment"] = {"python": platform.python_version(), "torch": torch.__version__,
                             "cpu_count": os.cpu_count(), "load_average_at_start": list(os.getloadavg())}
    samples = data.sample_mask(np.ones(len(data.dates), dtype=bool))
    report["data"] = {"tickers": int(data.universe.sum()), "days": len(data.dates), "first": str(data.dates[0]),
                      "last": str(data.dates[-1]), "samples": int(samples.sum()), "prepare_s": prepare_s}
    if not args.no_train:
        report["train"], model = bench_train(data, args)
        report["latency"] = bench_latency(data, model, args.calls)
    if args.walk_forward:
        report["walk_forward"] = walk_forward(data, settings, args)
    report["environment"]["load_average_at_end"] = list(os.getloadavg())
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=float))
    print(table(report))


if __name__ == "__main__":
    main()
