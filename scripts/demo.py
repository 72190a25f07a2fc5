"""`make demo`: the whole product end to end on the embedded synthetic market, in a fresh folder.

data → every available model trained small → the live daily loop on the synthetic market's simulated
clock (each day: update → score → the day's book → the push subscribers get; two days shown in full, then
enough days for the ledger) → ``/performance`` with its chart → ``/analyze`` for two tickers, printed as the
bot sends it, charts saved → ``/model`` → the job schedule. Everything goes through the same service
layer the bot and the CLI use; this script only picks small model sizes and prints.

    PYTHONPATH=src python scripts/demo.py [--out demo_out] [--small]

Without torch the deep models are reported as skipped (and why) and the demo runs on the trees.
Exit status 0 when every step worked, 1 with a one-line reason on stderr otherwise.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO / "src") not in sys.path:  # `python scripts/demo.py` works without PYTHONPATH=src too
    sys.path.insert(0, str(REPO / "src"))

from kstock.config import Settings  # noqa: E402
from kstock.errors import KstockError  # noqa: E402

#: Written into the output folder; a non-empty folder without it is never wiped.
MARKER = ".kstock-demo"
#: Two /analyze queries: one by code, one by Korean name (both are in the synthetic universe).
QUERIES = ("005930", "SK하이닉스")


@dataclass(frozen=True)
class Size:
    """How big the demo's market and models are."""

    tickers: int
    years: float
    trees: int  # boosting rounds
    loop_days: int  # simulated trading days run through the daily loop
    lstm: dict[str, Any]  # LSTMParams fields
    sector: dict[str, Any]  # SectorConfig fields


FULL = Size(
    tickers=60, years=2.5, trees=100, loop_days=12,
    lstm={"hidden_size": 32, "num_layers": 2, "max_epochs": 3, "samples_per_epoch": 30_000,
          "max_val_samples": 6_000, "batch_size": 256, "time_budget_s": 90.0},
    sector={"img_size": 32, "d_model": 32, "n_heads": 2, "n_layers": 1, "batch_size": 64,
            "samples_per_epoch": 4_096, "phase2_samples_per_sector": 256, "phase1_epochs": 2,
            "phase2_epochs": 1, "phase3_epochs": 1, "val_max_samples": 2_000, "infer_batch": 512},
)
SMALL = Size(
    tickers=30, years=1.5, trees=30, loop_days=8,
    lstm={"hidden_size": 16, "num_layers": 1, "max_epochs": 1, "samples_per_epoch": 4_000,
          "max_val_samples": 1_500, "batch_size": 256, "time_budget_s": 20.0},
    sector={"img_size": 32, "d_model": 16, "n_heads": 2, "n_layers": 1, "batch_size": 64,
            "samples_per_epoch": 512, "phase2_samples_per_sector": 32, "phase1_epochs": 1,
            "phase2_epochs": 1, "phase3_epochs": 1, "val_max_samples": 300, "infer_batch": 512},
)
#: Progress lines not worth a demo's screen: the sector trainer's every-10 %-of-an-epoch ticks.
_TICK = re.compile(r"epoch \d+/\d+: \d+%")


class DemoError(Exception):
    """A step failed; the message says which and why."""


class Clock:
    def __init__(self) -> None:
        self.start = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def say(clock: Clock, text: str = "") -> None:
    print(f"[{clock.elapsed():6.1f}s] {text}" if text else "", flush=True)


def show_progress(message: str) -> None:
    """A retrain progress line, indented under its step (the sector trainer's per-10 % ticks left out)."""
    if not _TICK.search(message):
        print(f"{'':11}{message}", flush=True)


def banner(title: str) -> None:
    print(f"\n{'=' * 8} {title} {'=' * max(4, 88 - len(title))}", flush=True)


def prepare_folder(out: Path) -> None:
    """Wipe ``out`` if it is empty or a previous demo's folder; refuse anything else."""
    if out.exists():
        if not out.is_dir():
            raise DemoError(f"{out} exists and is not a folder")
        if any(out.iterdir()) and not (out / MARKER).exists():
            raise DemoError(f"{out} is not empty and was not made by the demo; refusing to wipe it "
                            "(choose another --out)")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / MARKER).write_text("made by scripts/demo.py; wiped and rebuilt by every run\n")


def model_options(name: str, size: Size) -> dict[str, Any]:
    """The small sizes passed through ``retrain(**options)`` to each model kind's factory."""
    if name == "trees":
        from kstock.ml.trees import TreeParams

        return {"params": TreeParams(n_estimators=size.trees), "n_jobs": 1}
    if name == "lstm":
        return dict(size.lstm)
    if name == "sector":
        return dict(size.sector)
    return {}


def train_models(services: Any, size: Size, clock: Clock) -> dict[str, str]:
    """Train every model kind available here; returns the failures (name → reason)."""
    from kstock.ml.models import TORCH_MISSING, known_kinds, unavailable_reason
    from kstock.service.retrain import retrain

    failures: dict[str, str] = {}
    for name in sorted(known_kinds(), key=lambda n: (n != "trees", n)):  # the trees first: every call needs them
        reason = unavailable_reason(name)
        if reason:
            hint = " (`pip install torch==2.13.0` adds it)" if reason == TORCH_MISSING else ""
            say(clock, f"{name}: skipped — {reason}{hint}; the demo carries on without it")
            continue
        say(clock, f"{name}: training small ({_describe(model_options(name, size))})")
        result = retrain(services, name, progress=show_progress, **model_options(name, size))
        metrics = ", ".join(f"{k} {result.metrics[k]:.3f}" for k in ("rank_ic_mean", "auc") if k in result.metrics)
        say(clock, f"{name}: {result.status} in {result.seconds:.1f}s" + (f" [{metrics}]" if metrics else "")
            + (f" — version {result.version}" if result.version else ""))
        if result.status != "promoted":
            failures[name] = result.reason
            if name == "trees":  # nothing can score without the trees
                raise DemoError(f"trees: {result.status} — {result.reason}")
    return failures


def live_days(services: Any, settings: Settings, size: Size, clock: Clock) -> None:
    """Run the daily loop (what `kstock daily` and the bot's jobs run) for enough days to fill the ledger."""
    from kstock.bot import messages
    from kstock.charts.performance import render_performance_chart
    from kstock.service.daily import run_daily
    from kstock.service.ledger import days_until_first, performance
    from kstock.service.performance_view import format_performance
    from kstock.service.scoring import latest_book

    for n in range(1, size.loop_days + 1):
        t = time.monotonic()
        report = run_daily(services)
        steps = ", ".join(f"{s.step} {s.status}" for s in report.steps)
        if report.scoring is None:
            raise DemoError(f"day {report.day}: the loop did not score ({steps})")
        _, book = latest_book(services, report.day)
        held = book["BUY"]
        say(clock, f"day {n:>2} {report.day}: {steps} — {report.scoring.scored} scored, "
            f"{report.scoring.buyable} buyable; book {len(held)} names: "
            f"{sum(b.entry == 'new' for b in held)} bought, {sum(b.entry == 'kept' for b in held)} kept, "
            f"{len(book['EXIT'])} sold — in {time.monotonic() - t:.1f}s")
        if n <= 2:  # two consecutive days in full: the second push carries the second day's date
            print(f"\n--- push for {report.day} (what subscribers receive) ---")
            print(messages.push_text(report.day, held, book["SELL"][:5], settings.top_k, settings.label_horizon,
                                     book["EXIT"]))
            print()
    perf = performance(services)
    print("\n--- /performance ---")
    print(format_performance(perf, days_until_first(services)))
    if perf.curve:
        path = settings.db_path.parent / "performance.png"
        path.write_bytes(render_performance_chart(perf))
        say(clock, f"ledger chart saved: {path}")


def _describe(options: dict[str, Any]) -> str:
    shown = dict(options)
    if "params" in shown:
        shown = {"n_estimators": shown.pop("params").n_estimators, **shown}
    return ", ".join(f"{k}={v}" for k, v in shown.items())


def run(out: Path, size: Size, seed: int) -> dict[str, str]:
    from kstock.bot import messages
    from kstock.bot.jobs import describe_jobs
    from kstock.bot.runtime import BotRuntime
    from kstock.charts.analysis import draw_analysis
    from kstock.market.sources import synthesize_store
    from kstock.market.store import MarketStore
    from kstock.service.analyze import analyze
    from kstock.service.context import Services
    from kstock.service.presenters import format_analysis, format_chart_caption, format_models
    from kstock.service.status import models_status

    clock = Clock()
    settings = Settings.from_env().with_overrides(db_path=out / "kstock.db", model_dir=out / "models")

    banner("1. data: the synthetic KRX market")
    prepare_folder(out)
    t = time.monotonic()
    store = MarketStore(settings.db_path, create=True)
    market, changed = synthesize_store(store, n_tickers=size.tickers, years=size.years, seed=seed)
    summary = store.summary()
    say(clock, f"{len(market.tickers)} instruments ({', '.join(f'{k} {v}' for k, v in summary['by_kind'].items())}),"
        f" {summary['rows']:,} price rows ({changed:,} stored), {summary['first_date']} → {summary['last_date']}"
        f" in {time.monotonic() - t:.1f}s → {settings.db_path}")

    services = Services(settings, store)
    runtime = BotRuntime.create(settings, services, chart_workers=0)
    try:
        t = time.monotonic()
        data = services.model_data()
        say(clock, f"features: {data.features.values.shape[0]} tickers × {data.features.values.shape[1]} days × "
            f"{data.features.values.shape[2]} features in {time.monotonic() - t:.1f}s")

        banner("2. models: every available kind, trained small, validated, promoted through the gate")
        failures = train_models(services, size, clock)

        banner("3. the live daily loop: update → score → book → push, one simulated trading day at a time")
        live_days(services, settings, size, clock)

        banner("4. /analyze, as the bot answers it")
        charts = []
        for query in QUERIES:
            t = time.monotonic()
            analysis = analyze(services, query, chart=True)
            path = out / f"chart_{analysis.ticker.code}.png"
            path.write_bytes(draw_analysis(analysis.chart) if analysis.chart is not None else b"")
            charts.append(path)
            print(f"\n--- /analyze {query} ---")
            print(format_analysis(analysis))
            print(f"--- photo: {format_chart_caption(analysis)} ---")
            say(clock, f"answered in {time.monotonic() - t:.1f}s; chart saved: {path} ({path.stat().st_size:,} bytes)")

        banner("5. /model")
        print(format_models(models_status(services)))

        banner("6. the bot's job schedule (KST)")
        for job in describe_jobs(settings, runtime.now(), runtime.calendar()):
            print(f"{job['name']:<13}{messages.job_line(job)}")
    finally:
        runtime.close()
        services.close()

    banner("done")
    print(f"store:  {settings.db_path}")
    print(f"models: {settings.model_dir}")
    for path in charts:
        print(f"chart:  {path}")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("demo_out"),
                        help="output folder, wiped first (default demo_out)")
    parser.add_argument("--small", action="store_true", help="a smaller market and models (the test uses it)")
    parser.add_argument("--seed", type=int, default=7, help="synthetic market seed (default 7)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        failures = run(args.out, SMALL if args.small else FULL, args.seed)
    except KeyboardInterrupt:
        print("\ndemo: interrupted", file=sys.stderr)
        return 130
    except (DemoError, KstockError) as exc:
        print(f"\ndemo: FAILED after {time.monotonic() - started:.1f}s: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        logging.getLogger("demo").exception("unexpected error")
        print(f"\ndemo: FAILED after {time.monotonic() - started:.1f}s: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    total = time.monotonic() - started
    if failures:
        for name, why in failures.items():
            print(f"demo: {name} did not train: {why}", file=sys.stderr)
        print(f"demo: FAILED — finished in {total:.1f}s, but {', '.join(failures)} did not train", file=sys.stderr)
        return 1
    print(f"\ndemo: OK — total wall time {total:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
