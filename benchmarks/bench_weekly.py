"""The Sunday retrain of every kind, one after another, as the bot's ``weekly_retrain`` job runs it.

    PYTHONPATH=src .venv/bin/python benchmarks/bench_weekly.py [--db FILE] [--synthetic TICKERS,YEARS]
        [--kinds trees lstm sector] [--json benchmarks/out/weekly.json]

Each kind goes through :func:`kstock.service.retrain.retrain` — training on the last ``KSTOCK_TRAIN_YEARS``,
the held-out window, the gate — into a fresh model folder (so the gate always promotes and every kind does
its whole work), and its wall and CPU time are recorded. Target (issue 23): the whole weekly retrain under
15 minutes on ``kospi_2020_2026`` on the 2-core box. ``--synthetic 120,3`` measures on a small synthetic
store instead (a quick check of the script, not the target).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, ensure_kospi_db, machine, publish

TARGET_S = 15 * 60


def _store(args: argparse.Namespace, folder: Path) -> tuple[Path, str]:
    if args.synthetic:
        from kstock.market.sources import synthesize_store
        from kstock.market.store import MarketStore

        tickers, years = args.synthetic.split(",")
        db = folder / "synthetic.db"
        store = MarketStore(db)
        synthesize_store(store, n_tickers=int(tickers), years=float(years), seed=1)
        store.close()
        return db, f"synthetic {tickers} tickers × {years} y"
    db = args.db or folder / "kospi.db"
    ensure_kospi_db(db)
    return db, "kospi_2020_2026"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from kstock.bot.jobs import WEEKLY_KINDS
    from kstock.config import Settings
    from kstock.ml.models import unavailable_reason
    from kstock.service.context import Services
    from kstock.service.retrain import retrain

    folder = Path(tempfile.mkdtemp(prefix="bench_weekly_"))
    db, market = _store(args, folder)
    settings = Settings.from_env({}, dotenv=None).with_overrides(db_path=db, model_dir=folder / "models",
                                                                 use_gpu=False)
    services = Services(settings)
    kinds: dict[str, Any] = {}
    load = LoadSampler()
    for name in args.kinds or WEEKLY_KINDS:
        why = unavailable_reason(name)
        if why:
            kinds[name] = {"skipped": why}
            continue
        wall, cpu = time.perf_counter(), time.process_time()
        with load.span() as seen:
            result = retrain(services, name)
        kinds[name] = {"status": result.status, "wall_s": round(time.perf_counter() - wall, 1),
                       "cpu_s": round(time.process_time() - cpu, 1),
                       "rank_ic_next_open": result.metrics.get("rank_ic_next_open"), "load_avg_1m": seen}
        print(f"{name}: {result.status} in {kinds[name]['wall_s']} s", flush=True)
    services.close()
    total = sum(k.get("wall_s", 0.0) for k in kinds.values())
    return {"market": market, "kinds": kinds, "total_wall_s": round(total, 1), "target_s": TARGET_S,
            "machine": machine()}


class LoadSampler:
    """The 1-minute load average every 15 s while a kind retrains: on a shared 2-core box the wall time is an
    upper bound, and the load says by how much (above 2, others took CPU from the retrain)."""

    def __init__(self, every_s: float = 15.0) -> None:
        self.every_s = every_s

    def span(self) -> Any:
        import contextlib

        @contextlib.contextmanager
        def sampling() -> Any:
            samples: dict[str, float] = {}
            seen = [os.getloadavg()[0]]
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(self.every_s):
                    seen.append(os.getloadavg()[0])

            thread = threading.Thread(target=sample, daemon=True)
            thread.start()
            try:
                yield samples
            finally:
                stop.set()
                thread.join()
                seen.append(os.getloadavg()[0])
                samples.update(mean=round(sum(seen) / len(seen), 2), max=round(max(seen), 2), samples=len(seen))

        return sampling()


def table(report: dict[str, Any]) -> str:
    rows = ["| kind | status | wall (s) | CPU (s) | load (1 min) mean / max |", "|---|---|---:|---:|---:|"]
    for name, k in report["kinds"].items():
        load = k.get("load_avg_1m") or {}
        seen = f"{load['mean']} / {load['max']}" if load else "-"
        rows.append(f"| {name} | {k.get('status', 'skipped')} | {k.get('wall_s', '-')} | {k.get('cpu_s', '-')} "
                    f"| {seen} |")
    rows.append(f"| all ({report['market']}) | | {report['total_wall_s']} | target < {TARGET_S} | |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None)
    parser.add_argument("--synthetic", default=None, help="TICKERS,YEARS: a small synthetic store instead")
    parser.add_argument("--kinds", nargs="*", default=None)
    parser.add_argument("--json", type=Path, default=OUT / "weekly.json")
    args = parser.parse_args()
    report = run(args)
    publish(report, table(report), args.json)


if __name__ == "__main__":
    main()
