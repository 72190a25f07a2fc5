"""Does a deep member earn its weight? The trees and LSTM variants on the same walk-forward folds (issue 27).

    PYTHONPATH=src python scripts/deep_member_study.py --db kospi.db --start 2022-01-01 --folds 4 \\
        --out study/kospi --lstm base --lstm tradeable_corr

Each member is trained once per fold (plus the warm-up fold that weighs the ensemble's first fold) exactly as
``kstock evaluate`` trains it; its out-of-sample predictions are kept in ``--out`` (``<member>.npz``), so a
rerun or another LSTM variant does not train the trees again. For each LSTM variant it prints the LSTM alone,
the ensemble of trees + that LSTM (weights chosen on earlier folds only), the LSTM's daily rank correlation
with the trees and the ensemble's gain over the trees from the next open, per fold — and writes it all as
JSON. ``--seed-average`` adds the served LSTM trained with three seeds, its score averaged; ``--cross`` adds the
cross-sectional transformer (:mod:`kstock.ml.cross`) the same way, ``--sector`` the
sector CNN-transformer (with its three-class decision held against always-HOLD per fold); ``--shuffle`` also
trains the first LSTM variant on labels shuffled within each day (≈ 0 expected).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from kstock.config import Settings
from kstock.ml.ensemble import ensemble_out_of_sample
from kstock.ml.evaluation.diversity import diversity_report
from kstock.ml.evaluation.folds import walk_forward_folds, warmup_fold
from kstock.ml.evaluation.walkforward import OutOfSample, run_folds, score_predictions, shuffled_label_check
from kstock.ml.models import KINDS, create_model
from kstock.service.context import Services
from kstock.service.evaluate import three_class_report

#: The LSTM variants tried: the served one, and the issue's "ranked next-day target with a ranking loss".
VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "base_seed1": {"seed": 1},  # the served LSTM with other seeds: --seed-average averages the three
    "base_seed2": {"seed": 2},
    "tradeable": {"label": "tradeable"},
    "corr": {"corr_weight": 1.0},
    "tradeable_corr": {"label": "tradeable", "corr_weight": 1.0},
}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env().with_overrides(db_path=args.db, model_dir=args.out / "models")
    services = Services(settings)
    data = services.history_data()
    folds = walk_forward_folds(data.dates, args.folds, args.start, None, embargo=settings.label_horizon)
    warmup = warmup_fold(folds[0], settings.label_horizon)
    trained = [f for f in (warmup, *folds) if f is not None]
    say(f"{len(folds)} folds, test {data.dates[folds[0].test_start]} … {data.dates[folds[-1].test_end]}")
    trees = _member(args.out / "trees.npz", lambda: create_model("trees", settings), data, trained)
    report: dict[str, Any] = {"db": str(args.db), "folds": [f.describe(data.dates) for f in folds],
                              "trees": _summary(trees, data, folds, settings), "lstm": {}}
    for name in args.lstm:
        options = {**VARIANTS[name], **({"max_epochs": args.epochs} if args.epochs else {})}
        lstm = _member(args.out / f"lstm_{name}.npz", lambda o=options: create_model("lstm", settings, **o),
                       data, trained)
        report["lstm"][name] = _with_trees(trees, lstm, data, folds, warmup, settings) | {"options": options}
        _print_row(name, report["lstm"][name])
        (args.out / "report.json").write_text(json.dumps(report, indent=2, default=float))
    if args.seed_average:  # the served LSTM trained with three seeds, its score averaged (as the trees average theirs)
        names = ["base", "base_seed1", "base_seed2"]
        runs = [_member(args.out / f"lstm_{n}.npz", lambda o=VARIANTS[n]: create_model("lstm", settings, **o),
                        data, trained) for n in names]
        with np.errstate(invalid="ignore"):
            average = OutOfSample(np.mean([r.probability for r in runs], axis=0),
                                  np.mean([r.score for r in runs], axis=0))
        report["lstm"]["three_seeds"] = _with_trees(trees, average, data, folds, warmup, settings)
        _print_row("three_seeds", report["lstm"]["three_seeds"])
    if args.cross:  # the cross-sectional transformer (kstock.ml.cross): a research member, not a served kind
        from kstock.ml.cross.predictor import CrossSectionPredictor

        cross = _member(args.out / "cross.npz", lambda: CrossSectionPredictor.create(settings), data, trained)
        report["cross"] = _with_trees(trees, cross, data, folds, warmup, settings)
        _print_row("cross", report["cross"])
    if args.sector:
        sector = _member(args.out / "sector.npz", lambda: create_model("sector", settings, checkpoint_dir=False),
                         data, trained)
        report["sector"] = _with_trees(trees, sector, data, folds, warmup, settings, kind="sector")
        report["sector"]["three_class"] = three_class_report(sector, data, folds)
        report["sector"]["three_class"]["folds"] = [three_class_report(sector, data, [f]) for f in folds]
        _print_row("sector", report["sector"])
        say(f"sector three-class: {json.dumps(report['sector']['three_class'], default=float)}")
    if args.shuffle and args.lstm:
        options = VARIANTS[args.lstm[0]]
        started = time.perf_counter()
        report["shuffled_label_rank_ic"] = shuffled_label_check(
            lambda: create_model("lstm", settings, **options), data, folds)
        say(f"shuffled labels ({args.lstm[0]}): Rank IC {report['shuffled_label_rank_ic']:.4f} "
            f"({time.perf_counter() - started:.0f} s)")
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=float))
    return 0


def _member(path: Path, make: Any, data: Any, folds: list[Any]) -> OutOfSample:
    """A member's out-of-sample predictions: read back, or trained fold by fold and kept."""
    if path.exists():
        saved = np.load(path)
        extras = {k.removeprefix("extra_"): saved[k] for k in saved.files if k.startswith("extra_")}
        return OutOfSample(saved["probability"], saved["score"], extras)
    started = time.perf_counter()
    oos = run_folds(make, data, folds, lambda i, f: say(f"{path.stem}: fold {i + 1}/{len(folds)}"))
    say(f"{path.stem}: {time.perf_counter() - started:.0f} s for {len(folds)} fits")
    np.savez(path, probability=oos.probability, score=oos.score, **{f"extra_{k}": v for k, v in oos.extras.items()})
    return oos


def _summary(oos: OutOfSample, data: Any, folds: list[Any], settings: Settings) -> dict[str, Any]:
    scored = score_predictions(oos, data, folds, settings)
    return {"rank_ic": scored["rank_ic_mean"], "rank_ic_t1": scored["rank_ic_tradeable_mean"],
            "folds": [f["rank_ic_mean"] for f in scored["folds"]],
            "followable": scored["followable"]}


def _with_trees(trees: OutOfSample, lstm: OutOfSample, data: Any, folds: list[Any], warmup: Any,
                settings: Settings, kind: str = "lstm") -> dict[str, Any]:
    """The member alone and in an ensemble with the trees (its entries are named ``lstm`` whatever it is). The fold
    rule leans to ``kind``'s weight in the kinds table (a research member takes the LSTM's place and weight)."""
    prior = {"trees": KINDS["trees"].weight, "lstm": KINDS[kind].weight}
    ensemble, weights = ensemble_out_of_sample({"trees": trees, "lstm": lstm}, data, folds, warmup=warmup,
                                               prior=prior)
    diversity = diversity_report({"trees": trees.score, "lstm": lstm.score}, ensemble.score, data, folds,
                                 settings.label_horizon)
    return {"lstm": _summary(lstm, data, folds, settings), "ensemble": _summary(ensemble, data, folds, settings),
            "served_weights": weights, "diversity": diversity, "prior": prior}


def _print_row(name: str, row: dict[str, Any]) -> None:
    d = row["diversity"]
    gains = " / ".join(f"{g:+.4f}" for g in d["gain_over_trees"]["folds"])
    say(f"{name}: LSTM Rank IC {row['lstm']['rank_ic']:.4f} (t+1 {row['lstm']['rank_ic_t1']:.4f}); "
        f"ensemble {row['ensemble']['rank_ic']:.4f} (t+1 {row['ensemble']['rank_ic_t1']:.4f}); "
        f"next open: ensemble {d['next_open_rank_ic']['ensemble']:.4f} vs trees {d['next_open_rank_ic']['trees']:.4f} "
        f"(per fold {gains}); corr with trees {d['members']['lstm']['corr_with_trees']:.3f}; "
        f"weights {row['served_weights']}")


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--db", type=Path, required=True)
    p.add_argument("--start", default=None)
    p.add_argument("--folds", type=int, default=4)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--lstm", action="append", choices=sorted(VARIANTS), default=[])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--cross", action="store_true", help="also the cross-sectional transformer (kstock.ml.cross)")
    p.add_argument("--seed-average", action="store_true",
                   help="also the served LSTM trained with seeds 0, 1 and 2, its score averaged")
    p.add_argument("--sector", action="store_true", help="also the sector CNN-transformer and its three-class call")
    p.add_argument("--shuffle", action="store_true")
    return p


if __name__ == "__main__":
    raise SystemExit(main())
