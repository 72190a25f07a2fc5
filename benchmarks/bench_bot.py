"""The bot under load, through the real PTB stack over HTTP against the in-repo fake Bot API:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_bot.py [--users 20] [--rounds 3] [--repeat 3]
                                                         [--json benchmarks/out/bot.json]

1. ``/analyze``: ``--users`` users each send ``/analyze <a different stock>`` at the same instant, for
   ``--rounds`` rounds (round 1: charts never drawn before; round 2: the same stocks again, pictures
   cached; round 3: other stocks, by name), the whole cycle ``--repeat`` times (chart cache emptied,
   fresh users) with the samples pooled — one round on a shared 2-CPU host is noisy. Latency = from
   the update being queued at the fake server to the reply's arrival there; the fake runs in the same
   process, so its own HTTP handling is inside the numbers. Reported for the text answer (the
   analysis) and for the chart photo. Every user must get exactly one answer and one photo per
   request — nothing lost, nothing twice. The same rounds run twice, side by side: with the fake in
   the bot's process (its HTTP handling shares the bot's CPU and GIL) and with the fake in a process
   of its own (``--server``), as a real, remote Bot API is; the bot process's CPU time per request is
   reported for both.
2. ``/start`` while a retrain runs: an admin starts ``/retrain trees`` (full-size trees); while it
   trains, a user sends ``/start`` every 100 ms; latency of each answer, compared with an idle bot.

Targets (issue 6): /analyze p50 < 300 ms and p99 < 1.5 s with 20 users at once; /start < 200 ms
while a retrain runs. Issue 15: p50 ≤ 100 ms and p99 ≤ 1 s, judged with the fake in its own process;
``--tickers 2761`` runs the rounds on a full-market-sized synthetic store (the default 60 hides the costs
that grow with the market: each answer once re-read every name's call). The store is a synthetic
KRX-like market with trained trees (built first, not timed). Writes a markdown table to stdout and the
numbers to ``--json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))  # the fake Bot API (tests/support/fake_telegram)

from _common import publish  # noqa: E402

from kstock.bot import build_application  # noqa: E402
from kstock.config import Settings  # noqa: E402
from kstock.market.freshness import SEOUL  # noqa: E402
from kstock.market.store import MarketStore  # noqa: E402
from kstock.market.synthetic import generate_market  # noqa: E402
from kstock.market.types import InstrumentKind  # noqa: E402
from kstock.ml.trees import TreeParams  # noqa: E402
from kstock.service.context import Services  # noqa: E402
from kstock.service.retrain import retrain  # noqa: E402
from support.fake_telegram import BotHarness, FakeTelegramServer  # noqa: E402

ADMIN = 1
SATURDAY = dt.datetime(2025, 10, 4, 12, 0, tzinfo=SEOUL)  # no jobs are caught up at start


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50_ms": round(pct(ms, 0.5), 1), "p99_ms": round(pct(ms, 0.99), 1),
            "max_ms": round(max(ms), 1) if ms else float("nan"), "mean_ms": round(statistics.fmean(ms), 1) if ms else 0}


def build_store(root: Path, tickers: int, years: float) -> tuple[Settings, float]:
    store = MarketStore(root / "s.db")
    store.ingest(generate_market(n_tickers=tickers, years=years, seed=3), source="bench")
    settings = Settings.from_env({}, dotenv=None).with_overrides(db_path=root / "s.db", model_dir=root / "models")
    services = Services(settings, store=store)
    began = time.monotonic()
    result = retrain(services, "trees", params=TreeParams(n_estimators=60))
    assert result.status == "promoted", result
    services.close()
    return settings, time.monotonic() - began


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.01)


def analyze_round(tg: FakeTelegramServer, users: list[int], queries: list[str], label: str = "") -> dict:
    since = len(tg.sent)
    pushed: dict[int, float] = {}
    for user, query in zip(users, queries, strict=True):  # all at once: no waiting between users
        pushed[user] = time.monotonic()
        tg.push_message(user, f"/analyze {query}")

    def complete() -> bool:
        got = Counter((r.chat_id, r.method) for r in tg.sent[since:])
        return all(got[(u, "sendMessage")] >= 1 and got[(u, "sendPhoto")] >= 1 for u in users)

    wait_until(complete, 120, "not every user got an answer and a chart")
    time.sleep(0.5)  # anything duplicated would arrive now
    records = [r for r in tg.sent[since:] if r.chat_id in pushed]
    text_lat, photo_lat, bad = [], [], []
    for user in users:
        mine = [r for r in records if r.chat_id == user]
        texts = [r for r in mine if r.method == "sendMessage"]
        photos = [r for r in mine if r.method == "sendPhoto"]
        if len(texts) != 1 or len(photos) != 1 or "판단:" not in texts[0].text or not photos[0].is_png:
            bad.append({"user": user, "texts": len(texts), "photos": len(photos), "round": label})
            continue
        text_lat.append(texts[0].time - pushed[user])
        photo_lat.append(photos[0].time - pushed[user])
    return {"text": summary(text_lat), "photo": summary(photo_lat), "lost_or_duplicated": bad,
            "replies": len(records), "text_s": text_lat, "photo_s": photo_lat}


def start_latency(tg: FakeTelegramServer, user: int) -> float:
    since = len(tg.sent)
    began = time.monotonic()
    tg.push_message(user, "/start")
    record = tg.wait_for(lambda r: r.chat_id == user and r.method == "sendMessage", timeout=30, since=since)
    return record.time - began


def analyze_plans(common: list, users: int) -> list[tuple[str, list[str]]]:
    return [("cold charts, by code", [t.code for t in common[:users]]),
            ("same stocks again (cached charts)", [t.code for t in common[:users]]),
            ("other stocks, by name", [t.name for t in common[users: 2 * users]])]


def run_cycles(tg: FakeTelegramServer, plans: list[tuple[str, list[str]]], args: argparse.Namespace,
               clear_charts: Callable[[], object]) -> dict:
    """The /analyze rounds ``--repeat`` times (chart cache emptied, fresh users), samples pooled per round."""
    samples: dict[str, dict[str, list[float]]] = {label: {"text": [], "photo": []} for label, _ in plans}
    details, problems = [], []
    for cycle in range(args.repeat):
        clear_charts()  # every cycle starts with no picture drawn
        users = [1000 + 100 * cycle + i for i in range(args.users)]  # fresh users: no rate limit
        for label, queries in plans[: args.rounds]:
            result = analyze_round(tg, users, queries, label)
            samples[label]["text"] += result.pop("text_s")
            samples[label]["photo"] += result.pop("photo_s")
            problems += result["lost_or_duplicated"]
            details.append({"cycle": cycle + 1, "round": label, **result})
            time.sleep(0.3)
    return {"samples": samples, "details": details, "problems": problems}


def analyze_report(cycles: dict, bot_cpu: float) -> dict:
    samples, problems = cycles["samples"], cycles["problems"]
    texts = [x for v in samples.values() for x in v["text"]]
    return {"analyze_rounds": [{"round": label, "text": summary(v["text"]), "photo": summary(v["photo"]),
                                "lost_or_duplicated": [p for p in problems if p.get("round") == label]}
                               for label, v in samples.items() if v["text"]],
            "analyze_all_text": summary(texts), "analyze_cycles": cycles["details"],
            # the bot process's CPU (all threads) per request — with the fake in-process, the fake's too
            "analyze_bot_cpu_ms_per_request": round(1000 * bot_cpu / max(1, len(texts)), 1)}


def bot_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def serve_remotely(conn: Any, args: argparse.Namespace) -> None:
    """The fake Bot API and the rounds' driver in a process of their own (spawned): the bot's process then
    spends its CPU on the bot alone, as against Telegram's servers. Talks to the bot's process over ``conn``."""
    logging.basicConfig(level=logging.WARNING)
    with FakeTelegramServer(require_png=True) as tg:
        conn.send((tg.token, tg.base_url))
        plans = conn.recv()

        def clear_charts() -> None:
            conn.send("clear charts")
            conn.recv()

        conn.send(run_cycles(tg, plans, args, clear_charts))
        conn.recv()  # the bot has stopped polling: the server may go


def analyze_remote(settings: Settings, common: list, args: argparse.Namespace) -> dict:
    """The /analyze rounds against a fake Bot API in another process (``serve_remotely``)."""
    context = multiprocessing.get_context("spawn")
    conn, child = context.Pipe()
    server = context.Process(target=serve_remotely, args=(child, args), name="fake-telegram", daemon=True)
    server.start()
    token, base_url = conn.recv()
    settings = settings.with_overrides(telegram_bot_token=token, telegram_api_base_url=base_url, admin_ids=(ADMIN,))
    services = Services(settings)
    app = build_application(settings, services, chart_workers=args.chart_workers, clock=lambda: SATURDAY)
    try:
        with BotHarness(app) as harness:
            runtime = harness.app.bot_data["runtime"]
            wait_until(lambda: runtime.warmed.is_set() and runtime.charts.warm, 300, "warm-up did not finish")
            cpu = bot_cpu_s()
            conn.send(analyze_plans(common, args.users))
            while (message := conn.recv()) == "clear charts":
                runtime.charts.clear()
                conn.send("cleared")
            report = analyze_report(message, bot_cpu_s() - cpu)
            report["charts_drawn"] = runtime.charts.rendered
    finally:
        conn.send("stop")
        server.join(10)
        services.close()
    return report


def run(args: argparse.Namespace) -> dict:
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    root = Path(tempfile.mkdtemp(prefix="kstock-bench-bot-"))
    settings, train_s = build_store(root, args.tickers, args.years)
    store = MarketStore(settings.db_path)
    common = [t for t in store.tickers() if t.kind == InstrumentKind.COMMON and not t.delisting_date]
    store.close()
    if len(common) < 2 * args.users:
        raise SystemExit(f"need {2 * args.users} common stocks, the synthetic market has {len(common)}")
    report: dict = {"setup": {"users": args.users, "rounds": args.rounds, "repeat": args.repeat,
                              "load_average_before": [round(x, 2) for x in os.getloadavg()], "tickers": args.tickers,
                              "years": args.years, "chart_workers": args.chart_workers,
                              "cpus": os.cpu_count(), "python": platform.python_version(),
                              "platform": platform.platform(), "initial_training_s": round(train_s, 1)}}
    with FakeTelegramServer(require_png=True) as tg:
        settings = settings.with_overrides(telegram_bot_token=tg.token, telegram_api_base_url=tg.base_url,
                                           admin_ids=(ADMIN,))
        services = Services(settings)
        app = build_application(settings, services, chart_workers=args.chart_workers, clock=lambda: SATURDAY,
                                retrain_options={"trees": {"params": TreeParams(n_estimators=args.retrain_trees)}})
        with BotHarness(app) as harness:
            runtime = harness.app.bot_data["runtime"]
            began = time.monotonic()
            wait_until(lambda: runtime.warmed.is_set() and runtime.charts.warm, 300, "warm-up did not finish")
            report["setup"]["warm_up_s"] = round(time.monotonic() - began, 2)

            idle = [start_latency(tg, 5000 + i) for i in range(10)]
            report["start_idle"] = summary(idle)

            if args.server in ("both", "thread"):
                cpu = bot_cpu_s()
                cycles = run_cycles(tg, analyze_plans(common, args.users), args, runtime.charts.clear)
                report.update(analyze_report(cycles, bot_cpu_s() - cpu))
                report["charts_drawn"] = runtime.charts.rendered
            if not args.skip_retrain:
                report.update(start_during_retrain(tg))
        services.close()
    if args.server in ("both", "process"):
        remote = analyze_remote(settings, common, args)
        report["remote"] = {k.removeprefix("analyze_"): v for k, v in remote.items()}
    if args.full_market:
        report["full_market"] = full_market(root / "full", args)
    report["setup"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    report["targets"] = targets(report)
    return report


def full_market(root: Path, args: argparse.Namespace) -> dict:
    """The rounds once more on a store the size of the KRX (``--full-market`` tickers × 2 years), the fake
    in its own process: what grows with the market shows here, not on the 60-ticker store."""
    root.mkdir(parents=True)
    settings, _ = build_store(root, args.full_market, 2.0)
    store = MarketStore(settings.db_path)
    common = [t for t in store.tickers() if t.kind == InstrumentKind.COMMON and not t.delisting_date]
    store.close()
    report = {k.removeprefix("analyze_"): v for k, v in analyze_remote(settings, common, args).items()}
    return {**report, "tickers": args.full_market, "years": 2.0}


def start_during_retrain(tg: FakeTelegramServer) -> dict:
    """An admin starts ``/retrain trees``; while it trains, a user sends ``/start`` every 100 ms."""
    report: dict = {}
    since = len(tg.sent)
    tg.push_message(ADMIN, "/retrain trees")
    tg.wait_for(lambda r: r.chat_id == ADMIN and "재학습 진행 중" in r.text, timeout=30, since=since)
    retrain_began = time.monotonic()
    during: list[float] = []
    i = 0

    def finished() -> bool:
        return any(r.chat_id == ADMIN and r.method == "editMessageText" and "재학습" in r.text
                   and ("완료" in r.text or "종료" in r.text) for r in tg.sent[since:])

    while not finished():
        during.append(start_latency(tg, 6000 + i))
        i += 1
        time.sleep(0.1)
    retrain_s = time.monotonic() - retrain_began
    report["start_during_retrain"] = {**summary(during), "retrain_s": round(retrain_s, 1)}
    edits = [r for r in tg.sent[since:] if r.chat_id == ADMIN and r.method == "editMessageText"]
    report["retrain_progress_edits"] = len(edits)
    return report


def targets(report: dict) -> dict[str, bool]:
    """Issue 6's targets on the in-process numbers, issue 15's on the separate-process ones."""
    out = {}
    if "analyze_all_text" in report:
        out["analyze_p50_lt_300ms"] = report["analyze_all_text"]["p50_ms"] < 300
        out["analyze_p99_lt_1500ms"] = report["analyze_all_text"]["p99_ms"] < 1500
    for key in ("remote", "full_market"):
        if key in report:
            out[f"{key}_analyze_p50_le_100ms"] = report[key]["all_text"]["p50_ms"] <= 100
            out[f"{key}_analyze_p99_le_1000ms"] = report[key]["all_text"]["p99_ms"] <= 1000
    rounds = [r for key in ("remote", "full_market") for r in report.get(key, {}).get("rounds", [])]
    rounds += report.get("analyze_rounds", [])
    out["no_reply_lost_or_duplicated"] = all(not r["lost_or_duplicated"] for r in rounds)
    if "start_during_retrain" in report:
        out["start_during_retrain_lt_200ms"] = report["start_during_retrain"]["max_ms"] < 200
    return out


def markdown(report: dict) -> str:
    s = report["setup"]
    lines = [f"### bot benchmark — {s['users']} users at once × {s['rounds']} rounds × {s['repeat']} cycles, "
             f"{s['tickers']} synthetic tickers, {s['cpus']} CPUs (load avg {s['load_average_before'][0]} before, "
             f"{s['load_average_after'][0]} after), chart workers {s['chart_workers']}", "",
             "| measurement | n | p50 ms | p99 ms | max ms | lost/dup |", "|---|---:|---:|---:|---:|---:|"]
    full = report.get("full_market", {})
    for where, part in (("fake Bot API in the bot's process", report),
                        ("fake Bot API in its own process", {f"analyze_{k}": v for k, v in
                                                             report.get("remote", {}).items()}),
                        (f"full market, {full.get('tickers')} tickers, fake in its own process",
                         {f"analyze_{k}": v for k, v in full.items()})):
        if "analyze_rounds" in part:
            lines += _analyze_lines(part, where)
    for key, label in (("start_idle", "/start, idle bot"), ("start_during_retrain", "/start while retraining")):
        if key in report:
            v = report[key]
            extra = f" (retrain {v['retrain_s']} s)" if "retrain_s" in v else ""
            lines.append(f"| {label}{extra} | {v['n']} | {v['p50_ms']} | {v['p99_ms']} | {v['max_ms']} | – |")
    lines += ["", "targets: " + ", ".join(f"{k} {'✅' if ok else '❌'}" for k, ok in report["targets"].items()),
              f"charts drawn: {report.get('charts_drawn')}; retrain progress edits: "
              f"{report.get('retrain_progress_edits')}"]
    return "\n".join(lines)


def _analyze_lines(part: dict, where: str) -> list[str]:
    lines = []
    for r in part["analyze_rounds"]:
        for kind in ("text", "photo"):
            v = r[kind]
            lines.append(f"| /analyze {kind} — {r['round']} ({where}) | {v['n']} | {v['p50_ms']} | {v['p99_ms']} | "
                         f"{v['max_ms']} | {len(r['lost_or_duplicated'])} |")
    v = part["analyze_all_text"]
    lost = sum(len(r["lost_or_duplicated"]) for r in part["analyze_rounds"])
    lines.append(f"| **/analyze answer (text), all rounds — {where}** (bot CPU "
                 f"{part['analyze_bot_cpu_ms_per_request']} ms/request) | {v['n']} | **{v['p50_ms']}** | "
                 f"**{v['p99_ms']}** | {v['max_ms']} | {lost} |")
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", type=int, default=20, help="users sending /analyze at the same time (default 20)")
    p.add_argument("--rounds", type=int, default=3, choices=(1, 2, 3), help="rounds of /analyze (default 3)")
    p.add_argument("--repeat", type=int, default=3, help="cycles of the rounds, pooled (default 3)")
    p.add_argument("--tickers", type=int, default=60, help="synthetic instruments (default 60)")
    p.add_argument("--years", type=float, default=2.0, help="years of synthetic data (default 2)")
    p.add_argument("--chart-workers", type=int, default=1, help="chart processes (0 = threads; default 1)")
    p.add_argument("--retrain-trees", type=int, default=400, help="trees in the timed retrain (default 400)")
    p.add_argument("--server", choices=("both", "thread", "process"), default="both",
                   help="where the fake Bot API runs for the /analyze rounds: in the bot's process (thread), in "
                        "its own (process, as a real remote server), or both side by side (default)")
    p.add_argument("--skip-retrain", action="store_true", help="leave out /start while a retrain runs")
    p.add_argument("--full-market", type=int, default=2761, metavar="TICKERS",
                   help="also run the rounds on a store this large, fake in its own process (0: skip; default 2761)")
    p.add_argument("--json", default=str(REPO / "benchmarks" / "out" / "bot.json"), help="write results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = run(args)
    publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()
