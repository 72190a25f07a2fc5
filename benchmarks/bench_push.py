"""The daily push to many subscribers against the fake Bot API enforcing Telegram's bulk limit:

    PYTHONPATH=src .venv/bin/python benchmarks/bench_push.py [--subscribers 10000] [--limit 30]
                                                          [--restart-at 0.5] [--json benchmarks/out/push.json]

The real PTB stack talks HTTP to the in-repo fake Bot API, which answers a message beyond ``--limit`` in any
one-second window with 429 and ``retry_after`` 1 (as Telegram does, about 30 a second for a bot's bulk
messages); the push starts into a short 429 storm (three planned 429s). With ``--restart-at`` the bot is
stopped once that share of the subscribers has the book and started again on the same store, and the push
resumes. Reported: the time from the push's start to the last subscriber's message (and per 10,000
subscribers), the rate achieved, every 429 (the limit's and the storm's), and the checks that matter —
nobody lost, nobody twice. The store is the bot tests' synthetic market with small trees (built first, not
timed). Prints a markdown table and writes the numbers to ``--json``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests"))  # the fake Bot API and the bot tests' store

from _common import machine, publish  # noqa: E402

from kstock.bot.jobs import run_push, run_scoring  # noqa: E402
from kstock.bot.pacing import PUSH_RATE, PUSH_SENDERS  # noqa: E402
from support.bot_env import TRADING_EVENING, BotEnv, fresh_copy  # noqa: E402
from support.fake_telegram import FakeTelegramServer  # noqa: E402

PUSH_MARK = "장 마감 기준 신호"
FIRST_CHAT = 1_000_000


def push_counts(tg: FakeTelegramServer) -> Counter:
    return Counter(r.chat_id for r in tg.sent if r.method == "sendMessage" and PUSH_MARK in r.text)


def subscribe_all(env: BotEnv, n: int) -> None:
    for chat in range(FIRST_CHAT, FIRST_CHAT + n):
        env.runtime.subscriptions.subscribe(chat, chat)


def push_until(env: BotEnv, tg: FakeTelegramServer, share: float | None, n: int) -> Any:
    """Run the push; with ``share``, stop the bot once that share of the subscribers has it (None: to the end)."""
    future = asyncio.run_coroutine_threadsafe(run_push(env.runtime, env.bot, TRADING_EVENING), env.harness.loop)
    if share is None:
        return future.result(timeout=3600)
    while sum(push_counts(tg).values()) < share * n and not future.done():
        time.sleep(0.05)
    future.cancel()
    time.sleep(0.5)
    return None


def run(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    n = args.subscribers
    root = fresh_copy(Path(tempfile.mkdtemp(prefix="kstock-bench-push-")) / "env")
    with FakeTelegramServer() as tg:
        env = BotEnv(tg, root).start()
        try:
            subscribe_all(env, n)
            assert env.call(run_scoring(env.runtime, TRADING_EVENING)).date == TRADING_EVENING.date().isoformat()
            tg.flood_limit(args.limit, retry_after=1)
            tg.rate_limit("sendMessage", times=3, retry_after=1)
            started = time.monotonic()
            restarted_after = None
            if args.restart_at:
                push_until(env, tg, args.restart_at, n)
                restarted_after = sum(push_counts(tg).values())
                env.restart()
                tg.flood_limit(args.limit, retry_after=1)
            report = push_until(env, tg, None, n)
            pacer_holds = env.runtime.push_pacer.holds
        finally:
            env.stop()
        counts = push_counts(tg)
        pushes = [r for r in tg.sent if r.method == "sendMessage" and PUSH_MARK in r.text]
        calls = [c for c in tg.calls if c.method == "sendMessage"]
        refusals = tg.flood_refusals
    last = max(r.time for r in pushes) - started
    chats = range(FIRST_CHAT, FIRST_CHAT + n)
    lost = sum(1 for c in chats if counts[c] == 0)
    twice = sum(1 for c in chats if counts[c] > 1)
    return {
        "setup": {"subscribers": n, "limit_per_s": args.limit, "push_rate_per_s": PUSH_RATE,
                  "senders": PUSH_SENDERS, "storm_429s": 3, "restart_at": args.restart_at},
        "time_to_last_s": round(last, 1), "per_10000_s": round(last * 10_000 / n, 1),
        "messages_per_s": round(len(pushes) / last, 1) if last > 0 else None,
        "delivered": len(pushes), "lost": lost, "twice": twice,
        "responses_429": sum(1 for c in calls if c.status == 429), "limit_429s": refusals,
        "pacer_holds": pacer_holds, "restarted_after": restarted_after,
        "resumed_sent": report.sent if report is not None else None, "machine": machine(),
    }


def markdown(r: dict[str, Any]) -> str:
    s = r["setup"]
    lines = ["| push | value |", "|---|---:|",
             f"| subscribers | {s['subscribers']:,} |",
             f"| fake Bot API limit | {s['limit_per_s']} messages/s, 429 retry_after 1 s |",
             f"| push pace | {s['push_rate_per_s']:g}/s, {s['senders']} senders |",
             f"| time to the last subscriber | {r['time_to_last_s']:,.1f} s |",
             f"| per 10,000 subscribers | {r['per_10000_s']:,.1f} s ({r['per_10000_s'] / 60:.1f} min) |",
             f"| achieved rate | {r['messages_per_s']} messages/s |",
             f"| lost / twice | {r['lost']} / {r['twice']} |",
             f"| 429 answers (limit's / all) | {r['limit_429s']} / {r['responses_429']} |"]
    if s["restart_at"]:
        lines.append(f"| restarted after | {r['restarted_after']:,} messages; resumed {r['resumed_sent']:,} |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--subscribers", type=int, default=10_000, help="subscribers (default 10,000)")
    p.add_argument("--limit", type=int, default=30, help="the fake's messages per second (default 30)")
    p.add_argument("--restart-at", type=float, default=0.5,
                   help="stop and restart the bot when this share has the book (0: no restart; default 0.5)")
    p.add_argument("--json", default=str(REPO / "benchmarks" / "out" / "push.json"), help="write results here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report = run(args)
    publish(report, markdown(report), args.json)


if __name__ == "__main__":
    main()
