"""The first /analyze photo of the day's basket and watched stocks, pre-drawn after the scoring, at 20 users:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_predraw.py [--users 20] [--repeat 3]
                                                             [--json benchmarks/out/predraw.json]

The bot (real PTB over HTTP against the in-repo fake Bot API, one chart worker process, as ``bench_bot``)
has watchers; the day is scored and the charts of the published basket (매수 and the pushed 매도 warnings) and
of every watched stock are drawn in the background (:mod:`kstock.bot.chart_predraw`). Then ``--users``
users ask ``/analyze`` for ``--users`` of those stocks at the same instant: the photo's latency (from the
update queued at the fake server to the photo's arrival there) is the first photo of a pre-drawn chart.
Beside it, the same users' photos for stocks nobody pre-drew (drawn on request, as before) and those again
(cached and uploaded once). ``--repeat`` cycles (cache emptied, pre-drawn again, fresh users), pooled.
Target (issue 26): the pre-drawn photos' p50 under 300 ms. Prints a table and writes ``--json``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))

from _common import machine, publish  # noqa: E402
from bench_bot import SATURDAY, analyze_round, build_store, summary, wait_until  # noqa: E402

from kstock.bot import build_application  # noqa: E402
from kstock.bot.chart_predraw import predraw_charts, wanted_codes  # noqa: E402
from kstock.bot.jobs import run_scoring  # noqa: E402
from kstock.market.store import MarketStore  # noqa: E402
from kstock.market.types import InstrumentKind  # noqa: E402
from kstock.service.context import Services  # noqa: E402
from support.fake_telegram import BotHarness, FakeTelegramServer  # noqa: E402

TARGET_MS = 300


def commons(settings: Any) -> list[str]:
    store = MarketStore(settings.db_path)
    try:
        return [t.code for t in store.tickers() if t.kind == InstrumentKind.COMMON and not t.delisting_date]
    finally:
        store.close()


def cycle(tg: FakeTelegramServer, harness: BotHarness, rt: Any, date: str, plan: dict[str, list[str]],
          users: list[int]) -> dict[str, Any]:
    """Empty the cache, pre-draw, then the rounds (pre-drawn, never drawn, the latter again)."""
    rt.charts.clear()
    began = time.monotonic()
    drawn = harness.call(predraw_charts(rt, date), timeout=600)
    out: dict[str, Any] = {"predraw_s": round(time.monotonic() - began, 2), "predrawn": drawn}
    offset = 0
    for label, codes in plan.items():
        n = min(len(users), len(codes))
        out[label] = analyze_round(tg, [u + offset for u in users[:n]], codes[:n], label)
        offset += 100
        time.sleep(0.3)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    root = Path(tempfile.mkdtemp(prefix="kstock-bench-predraw-"))
    settings, _ = build_store(root, args.tickers, args.years)
    every = commons(settings)
    with FakeTelegramServer(require_png=True) as tg:
        settings = settings.with_overrides(telegram_bot_token=tg.token, telegram_api_base_url=tg.base_url)
        services = Services(settings)
        app = build_application(settings, services, chart_workers=1, clock=lambda: SATURDAY)
        with BotHarness(app) as harness:
            rt = harness.app.bot_data["runtime"]
            wait_until(lambda: rt.warmed.is_set() and rt.charts.warm, 300, "warm-up did not finish")
            for i, code in enumerate(every[: args.users]):  # watchers, one stock each
                tg.push_message(7000 + i, f"/watch {code}")
            wait_until(lambda: sum(1 for r in tg.sent if r.chat_id and 7000 <= r.chat_id < 8000) >= args.users, 60,
                       "the watches were not answered")
            date = harness.call(run_scoring(rt, SATURDAY, force=True), timeout=600).date
            wanted = harness.call(rt.run_store(wanted_codes, rt, date))
            plan = {"pre-drawn (first photo)": wanted[: args.users],
                    "never drawn (first photo)": [c for c in every if c not in wanted][: args.users]}
            plan["never drawn, asked again (cached)"] = plan["never drawn (first photo)"]
            cycles = [cycle(tg, harness, rt, date, plan, [10_000 + 1000 * k + i for i in range(args.users)])
                      for k in range(args.repeat)]
        services.close()
    rounds = {label: {"photo": summary([x for c in cycles for x in c[label]["photo_s"]]),
                      "text": summary([x for c in cycles for x in c[label]["text_s"]]),
                      "lost_or_duplicated": sum(len(c[label]["lost_or_duplicated"]) for c in cycles)}
              for label in plan}
    predrawn = rounds["pre-drawn (first photo)"]["photo"]
    return {"setup": {"users": args.users, "repeat": args.repeat, "tickers": args.tickers, "years": args.years,
                      "wanted": len(wanted), "machine": machine()},
            "predraw_s": [c["predraw_s"] for c in cycles], "rounds": rounds,
            "predrawn_photo_p50_ms": predrawn["p50_ms"], "target_met": predrawn["p50_ms"] < TARGET_MS}


def markdown(r: dict[str, Any]) -> str:
    s = r["setup"]
    lines = [f"### pre-drawn charts — {s['users']} users at once × {s['repeat']} cycles, {s['tickers']} synthetic "
             f"tickers, {s['wanted']} stocks pre-drawn in {', '.join(f'{x:.1f}' for x in r['predraw_s'])} s", "",
             "| /analyze photo | n | p50 ms | p99 ms | lost/dup |", "|---|---:|---:|---:|---:|"]
    for label, v in r["rounds"].items():
        p = v["photo"]
        lines.append(f"| {label} | {p['n']} | {p['p50_ms']} | {p['p99_ms']} | {v['lost_or_duplicated']} |")
    lines += ["", f"target: pre-drawn photo p50 < {TARGET_MS} ms {'✅' if r['target_met'] else '❌'}"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=20, help="users asking at the same time (default 20)")
    p.add_argument("--repeat", type=int, default=3, help="cycles, pooled (default 3)")
    p.add_argument("--tickers", type=int, default=90, help="synthetic instruments (default 90)")
    p.add_argument("--years", type=float, default=2.0, help="years of synthetic data (default 2)")
    p.add_argument("--json", default=str(REPO / "benchmarks" / "out" / "predraw.json"), help="write results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = run(args)
    publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()
