"""`kstock bot` (run the Telegram bot) and `kstock jobs` (its scheduled jobs and their next runs)."""

from __future__ import annotations

import argparse
import logging

from kstock.cli import Context, command, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "bot", cmd_bot, "run the Telegram bot (long polling; --webhook for webhook mode)",
                "Run the Telegram bot with TELEGRAM_BOT_TOKEN against TELEGRAM_API_BASE_URL: commands, the daily "
                "scoring and push on trading days and the weekly LSTM retrain (Asia/Seoul). One process per token.")
    p.add_argument("--webhook", metavar="URL", help="public https URL for webhook mode instead of long polling")
    p.add_argument("--listen", default="0.0.0.0", help="webhook: address to listen on (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=8443, help="webhook: port to listen on (default 8443)")
    p.add_argument("--chart-workers", type=int, default=1,
                   help="processes drawing /analyze charts (0: draw in threads; default 1)")

    p = command(sub, "jobs", cmd_jobs, "list the bot's scheduled jobs with their next run times (KST)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_bot(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.bot.app import run_bot

    # kstock's own lines at KSTOCK_LOG_LEVEL (info: job runs, pushes); libraries stay at the CLI's level
    level = logging.DEBUG if getattr(args, "verbose", False) else getattr(logging, ctx.settings.log_level.upper())
    logging.getLogger("kstock").setLevel(level)
    run_bot(ctx.settings, webhook_url=args.webhook, listen=args.listen, port=args.port,
            chart_workers=max(0, args.chart_workers))
    return 0


def cmd_jobs(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.bot.jobs import describe_jobs
    from kstock.market.calendar import TradingCalendar
    from kstock.market.freshness import seoul_now
    from kstock.service.korean import kst

    calendar = TradingCalendar.from_store(ctx.read_store) if ctx.settings.db_path.exists() else None
    jobs = describe_jobs(ctx.settings, seoul_now(), calendar)
    if args.json:
        print_json(jobs)
        return 0
    width = max(len(j["name"]) for j in jobs)
    for job in jobs:
        print(f"`{job['name']}`{' ' * (width - len(job['name']))}  다음 실행 {kst(job['next_run'])} KST  "
              f"({job['schedule']}) — {job['description']}")
    return 0
