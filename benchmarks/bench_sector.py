"""The sector model on real KRX data: training throughput, whole-market scoring, and quality.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_sector.py [--db FILE] [--sizes 64 224] [--threads 1]
        [--no-quality] [--json benchmarks/out/sector.json]

Data: ``--db`` (a store already holding ../shared/data/krx/market_2023_2025), else that folder is
imported into a temporary store first (~15 s). Three parts, printed as markdown and saved as JSON:

1. **Training throughput** (CPU, samples/s) per image size: whole phase-1 and phase-2 steps
   including building the batch (window gathering + chart rasterising), and the batch building
   alone. The median of timed batches after a warm-up.
2. **Scoring** the whole universe on the last date: ``predict_days`` (windows, charts, batched
   inference through the sector heads), timed with the data already loaded, and the data loading
   (``prepare_model_data``) separately.
3. **Quality** per image size (skip with ``--no-quality``): the default three-phase ``fit`` on the
   days before a held-out test block (the last 60 labelled days, after a 5-day embargo), then the
   models at the end of phase 1, phase 2 and phase 3 are scored on the test block (every
   ``--test-stride``-th day): accuracy, macro-F1 against the HOLD-majority baseline, and the daily
   Rank IC of P(BUY) − P(SELL) against the 5-day forward return (and the return from t+1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KRX = REPO.parent / "shared" / "data" / "krx"


def load_data(db: Path | None) -> tuple[Any, str]:
    from kstock.config import Settings
    from kstock.market.csv_import import import_directory
    from kstock.market.store import MarketStore
    from kstock.ml.data import prepare_model_data

    settings = Settings.from_env({}, dotenv=None)
    if db is None:
        db = Path(tempfile.mkdtemp(prefix="bench_sector_")) / "market.db"
        store = MarketStore(db)
        import_directory(store, KRX / "market_2023_2025", tickers_file=KRX / "tickers.csv",
                         sectors_file=KRX / "krx_industry_2021-12.csv",
                         index_files={"KOSPI": KRX / "index" / "kospi.csv"}, progress=False)
    else:
        store = MarketStore(db)
    t0 = time.perf_counter()
    data = prepare_model_data(store, settings)
    return data, f"{db} (prepare_model_data {time.perf_counter() - t0:.1f} s)"


def held_out(data: Any, test_days: int = 60, embargo: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Training-day mask and test-day indices: the last ``test_days`` labelled days, after an embargo."""
    labelled = np.flatnonzero(np.isfinite(data.labels.three_class).any(axis=0))
    last = int(labelled.max())
    test = np.arange(last - test_days + 1, last + 1)
    train = np.zeros(len(data.dates), dtype=bool)
    train[: test[0] - embargo] = True
    return train, test


def throughput(data: Any, train_days: np.ndarray, size: int, batches: int, batch_size: int) -> dict[str, float]:
    import torch

    from kstock.ml.sector.config import SectorConfig
    from kstock.ml.sector.predictor import build_model
    from kstock.ml.sector.trainer import ThreePhaseTrainer
    from kstock.ml.sector.windows import make_split

    cfg = SectorConfig(img_size=size, batch_size=batch_size)
    split = make_split(data, train_days, cfg, data.labels.horizon)
    trainer = ThreePhaseTrainer(build_model(cfg), split, cfg, progress=False, device="cpu")
    rng = np.random.default_rng(0)
    out: dict[str, float] = {"img_size": size, "batch_size": batch_size}

    def batch() -> np.ndarray:
        return rng.choice(len(split.train_tickers), batch_size, replace=False)

    times = []
    for _ in range(batches):
        pos = batch()
        t0 = time.perf_counter()
        split.source.batch(split.train_tickers[pos], split.train_days[pos])
        times.append(time.perf_counter() - t0)
    out["batch_build_samples_per_s"] = batch_size / statistics.median(times)
    for phase in (1, 2):
        if phase == 2:
            trainer.model.init_sector_heads_from_common()
            trainer.model.freeze_backbone()
        params = [p for p in trainer.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)
        trainer.model.train()
        times = []
        for i in range(batches + 2):
            pos = batch()
            t0 = time.perf_counter()
            trainer._train_step(trainer.model, opt, split.train_tickers[pos], split.train_days[pos], phase)
            if i >= 2:  # warm-up
                times.append(time.perf_counter() - t0)
        out[f"train_phase{phase}_samples_per_s"] = batch_size / statistics.median(times)
    trainer.model.unfreeze_backbone()
    return out


def scoring(data: Any, predictor: Any) -> dict[str, float]:
    day = np.array([len(data.dates) - 1])
    predictor.predict_days(data, day)  # warm-up (allocations, kernels)
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = predictor.predict_days(data, day)
        runs.append(time.perf_counter() - t0)
    head = out.extras["head"][:, 0]
    return {"date": str(data.dates[day[0]]), "tickers_scored": int(np.isfinite(out.score).sum()),
            "universe": int(data.universe.sum()), "seconds": statistics.median(runs),
            "answered_by_sector_heads": float(np.mean(head[np.isfinite(head)] >= 0))}


def test_metrics(data: Any, predictor: Any, days: np.ndarray) -> dict[str, Any]:
    from kstock.ml.evaluation import metrics as mt

    out = predictor.predict_days(data, days)
    y = data.labels.three_class[:, days]
    ok = np.isfinite(out.score) & np.isfinite(y)
    pred_class = np.where(ok, np.nan_to_num(out.extras["class_probs"]).argmax(axis=2), np.nan)
    res = mt.multiclass_metrics(pred_class[ok], y[ok])
    score = np.where(ok, out.score, np.nan)
    res["rank_ic"] = mt.ic_summary(mt.daily_rank_ic(score, data.labels.forward_return[:, days]))
    res["rank_ic_tradeable"] = mt.ic_summary(mt.daily_rank_ic(score, data.labels.tradeable_return[:, days]))
    head = out.extras["head"][ok]
    res["sector_head_share"] = float(np.mean(head >= 0)) if head.size else float("nan")
    return res


def quality(data: Any, train_days: np.ndarray, test_days: np.ndarray, size: int, stride: int,
            options: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    from kstock.config import Settings
    from kstock.ml.sector.predictor import SectorPredictor

    ckdir = Path(tempfile.mkdtemp(prefix=f"sector_ck{size}_"))
    settings = Settings(use_gpu=False, chart_size=size)
    predictor = SectorPredictor(settings=settings, checkpoint_dir=ckdir, progress=False, **options)
    t0 = time.perf_counter()
    fit = predictor.fit(data, train_days)
    train_s = time.perf_counter() - t0
    days = test_days[::stride]
    res: dict[str, Any] = {"img_size": size, "train_seconds": train_s, "fit": fit,
                           "validation": predictor.metrics, "test_days": len(days),
                           "test_range": [str(data.dates[days[0]]), str(data.dates[days[-1]])]}
    try:
        for phase in (1, 2, 3):
            model = SectorPredictor.from_checkpoint(ckdir / f"phase{phase}_final.pt", settings)
            t1 = time.perf_counter()
            res[f"test_phase{phase}"] = test_metrics(data, model, days)
            res[f"test_phase{phase}"]["inference_seconds"] = time.perf_counter() - t1
    finally:
        shutil.rmtree(ckdir, ignore_errors=True)
    return res, predictor


def markdown(report: dict[str, Any]) -> str:
    lines = [f"Sector model benchmark — {report['data']}", f"torch threads: {report['threads']}, "
             f"load average at start {report['load_average']}", "",
             "| image | batch build (samples/s) | train phase 1 (samples/s) | train phase 2 (samples/s) |",
             "|---|---|---|---|"]
    for t in report["throughput"]:
        lines.append(f"| {t['img_size']} px | {t['batch_build_samples_per_s']:,.0f} | "
                     f"{t['train_phase1_samples_per_s']:,.0f} | {t['train_phase2_samples_per_s']:,.0f} |")
    lines += ["", "| scoring | tickers | seconds |", "|---|---|---|"]
    for s in report["scoring"]:
        lines.append(f"| {s['img_size']} px, {s['date']} | {s['tickers_scored']:,} of {s['universe']:,} | "
                     f"{s['seconds']:.2f} |")
    if report.get("quality"):
        lines += ["", "| image | model | accuracy | macro-F1 | HOLD baseline F1 | Rank IC (IR) | Rank IC t+1 | "
                  "sector-head share | fit (s) |", "|---|---|---|---|---|---|---|---|---|"]
        for q in report["quality"]:
            for phase, name in ((1, "phase 1 (common head)"), (2, "phases 1–2"), (3, "phases 1–3")):
                m = q[f"test_phase{phase}"]
                lines.append(
                    f"| {q['img_size']} px | {name} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | "
                    f"{m['hold_baseline_macro_f1']:.3f} | {m['rank_ic']['mean']:+.4f} ({m['rank_ic']['ir']:+.2f}) | "
                    f"{m['rank_ic_tradeable']['mean']:+.4f} | {m['sector_head_share']:.2f} | "
                    f"{q['train_seconds']:.0f} |")
        lines += ["", "Validation split (inside the training days, through the phase's own routing):", "",
                  "| image | phase | val loss | val macro-F1 | HOLD baseline | best epoch |",
                  "|---|---|---|---|---|---|"]
        for q in report["quality"]:
            for phase, m in q["validation"].items():
                lines.append(f"| {q['img_size']} px | {phase} | {m['loss']:.4f} | {m['macro_f1']:.3f} | "
                             f"{m['hold_baseline_macro_f1']:.3f} | {m['best_epoch']} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, help="store holding market_2023_2025 (default: import it)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 224])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (at most 2 on the shared box)")
    parser.add_argument("--batches", type=int, default=12, help="timed batches per throughput figure")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--test-stride", type=int, default=3, help="score every n-th test day (default 3)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a SectorConfig option for the quality fits, e.g. samples_per_epoch=8192")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "out" / "sector.json")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    options = {k: _parse(v) for k, v in (o.split("=", 1) for o in args.option)}
    data, source = load_data(args.db)
    train_days, test_days = held_out(data)
    report: dict[str, Any] = {
        "data": source, "threads": args.threads, "load_average": [round(x, 2) for x in os.getloadavg()],
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "cpu_count": os.cpu_count()},
        "panel": {"tickers": len(data.panel.codes), "days": len(data.dates), "universe": int(data.universe.sum())},
        "throughput": [], "scoring": [], "quality": [], "options": options,
    }
    for size in args.sizes:
        report["throughput"].append(throughput(data, train_days, size, args.batches, args.batch_size))
        print(json.dumps(report["throughput"][-1]), flush=True)
    for size in args.sizes:
        if args.no_quality:
            from kstock.config import Settings
            from kstock.ml.sector.config import SectorConfig
            from kstock.ml.sector.predictor import SectorPredictor, build_model
            from kstock.ml.sector.windows import make_split

            cfg = SectorConfig(img_size=size)
            predictor = SectorPredictor(settings=Settings(use_gpu=False), config=cfg)
            predictor._adopt(build_model(cfg), make_split(data, train_days, cfg, data.labels.horizon))
        else:
            q, predictor = quality(data, train_days, test_days, size, args.test_stride, options)
            report["quality"].append(q)
            print(json.dumps(_short(q), default=str), flush=True)
        report["scoring"].append({"img_size": size, **scoring(data, predictor)})
        print(json.dumps(report["scoring"][-1]), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str, ensure_ascii=False))
    print(markdown(report))


def _short(q: dict[str, Any]) -> dict[str, Any]:
    return {"img_size": q["img_size"], "train_seconds": q["train_seconds"],
            **{f"phase{p}": {k: q[f"test_phase{p}"][k] for k in ("macro_f1", "hold_baseline_macro_f1", "rank_ic")}
               for p in (1, 2, 3)}}


def _parse(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


if __name__ == "__main__":
    main()
