"""`kstock bot` (run the Telegram bot) and `kstock jobs` (its scheduled jobs and their next runs)."""

from __future__ import annotations

import argparse
import logging

from kstock.cli import Context, command, print_json


def register(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "bot", cmd_bot, "텔레그램 봇 실행 (롱 폴링; --webhook을 주면 웹훅 방식)",
                "TELEGRAM_BOT_TOKEN으로 TELEGRAM_API_BASE_URL에 붙어 텔레그램 봇을 실행합니다: 명령 응답, "
                "거래일마다의 채점과 알림 발송, 주간 LSTM 재학습 (Asia/Seoul 기준). 토큰 하나에 프로세스 하나만 "
                "띄우세요.")
    p.add_argument("--webhook", metavar="URL", help="롱 폴링 대신 웹훅 방식으로 받을 공개 https 주소")
    p.add_argument("--listen", default="0.0.0.0", help="웹훅: 수신할 주소 (기본값 0.0.0.0)")
    p.add_argument("--port", type=int, default=8443, help="웹훅: 수신할 포트 (기본값 8443)")
    p.add_argument("--chart-workers", type=int, default=1,
                   help="/analyze 차트를 그릴 프로세스 수 (0: 스레드에서 그림; 기본값 1)")

    p = command(sub, "jobs", cmd_jobs, "봇의 예약 작업과 다음 실행 시각 (KST) 목록")
    p.add_argument("--json", action="store_true", help="JSON 출력 (프로그램용)")


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
