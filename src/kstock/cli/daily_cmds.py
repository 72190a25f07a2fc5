"""`kstock daily|score|signals|performance`: the daily loop from the command line (for cron and systemd timers).

`kstock daily` runs the same steps as the bot's jobs (:mod:`kstock.service.daily`) — the data update from
the configured source, then the scoring and the day's book — each at most once per trading day; the bot
then pushes what was stored. `score` and `signals` are the single steps by hand.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from kstock.cli import Context, command, date_arg, print_json
from kstock.errors import KstockError


def register(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "daily", cmd_daily, "run the daily loop once: update the data, score, store the day's book",
                "Update the data from KSTOCK_DATA_SOURCE, then score every model and store the day's book — each "
                "step once per trading day (a re-run skips what is done). For cron/systemd users who do not run "
                "the bot; exit status 1 when the day could not be scored on current data, 75 when another loop "
                "(the bot, another `kstock daily`) runs on the store and did not finish within a few seconds.")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar of the update")

    p = command(sub, "score", cmd_score, "score the whole market on a day and store the signals")
    p.add_argument("--date", type=date_arg, help="stored trading day, YYYY-MM-DD or YYYYMMDD (default: the last)")

    p = command(sub, "signals", cmd_signals, "show the stored book (BUY basket, SELL warnings) of a day")
    p.add_argument("--date", type=date_arg, help="scored day, YYYY-MM-DD or YYYYMMDD (default: the last)")
    p.add_argument("--top", type=int, default=None,
                   help="SELL warnings to show (with --json: entries of each list); default KSTOCK_TOP_K")
    p.add_argument("--json", action="store_true",
                   help='machine-readable: {"date", "stale", "buys": [...], "sells": [...]}')

    p = command(sub, "performance", cmd_performance, "the live record: how every published BUY signal turned out",
                "Each published BUY signal measured as the backtest trades it (next open → open horizon days "
                "later, net of costs) against the equal-weighted buyable universe and KOSPI: hit rate, mean "
                "excess return with a 95% interval, by model version, and the cumulative curve.")
    p.add_argument("--json", action="store_true",
                   help="machine-readable: days, signals, hit_rate, mean_excess_return, ci95, by_version, curve, …")
    p.add_argument("--chart", type=Path, metavar="FILE", help="write the cumulative curve as a PNG")
    p.add_argument("--since", type=date_arg,
                   help="only signals published on or after this date (YYYY-MM-DD or YYYYMMDD)")


def _writing_services(ctx: Context):
    from kstock.service import runs
    from kstock.service.context import Services

    services = Services(ctx.settings, ctx.store)
    runs.mark_interrupted(ctx.store)
    return services


#: `kstock daily`'s exit status when another loop runs on the store (EX_TEMPFAIL: try again later).
BUSY_EXIT = 75


def cmd_daily(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.service.daily import run_daily
    from kstock.service.loop_lock import LoopBusyError

    services = _writing_services(ctx)
    try:
        report = run_daily(services, progress=not args.no_progress and not args.json)
    except LoopBusyError as exc:  # another front door (the bot, a second cron) runs the loop: nothing done
        print(f"kstock: {exc}", file=sys.stderr)
        return BUSY_EXIT
    if args.json:
        print_json(report.as_dict())
    else:
        for step in report.steps:
            print(f"{report.day} {_STEP_KO.get(step.step, step.step)}: {_STEP_STATUS_KO.get(step.status, step.status)}"
                  f" — {step.message}")
        if report.freshness and report.freshness.warning():
            print(report.freshness.warning())
        if report.scoring is not None:
            _print_book(services, report.scoring.date, services.settings.top_k)
    return 0 if report.scoring is not None or (report.ok and report.freshness and not report.freshness.stale) else 1


#: The daily loop's steps and outcomes as `kstock daily` prints them (``--json`` keeps the English keys).
_STEP_KO = {"update": "데이터 갱신", "score": "채점", "push": "푸시"}
_STEP_STATUS_KO = {"ok": "완료", "failed": "실패", "skipped": "건너뜀", "stale": "데이터 지연", "done": "이미 완료"}


def cmd_score(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.service.daily import score_now

    services = _writing_services(ctx)
    report = score_now(services, args.date)
    print(f"{report.date}: {report.scored}종목 채점 (매수 가능 {report.buyable}종목), 모델 "
          f"{', '.join(f'`{v}`' for v in report.versions)}"
          + _unpublished_note(services, report, args.date))
    _print_book(services, report.date, 5)  # the stored book, whole: what `kstock signals` and the push show
    return 0


def _unpublished_note(services, report, date: str | None) -> str:
    """Why a hand scoring was stored without being published, or that the day's published book was kept."""
    from kstock.service.scoring import publication

    if not report.stale:
        return ""
    pub = publication(services, report.date)
    if pub and not pub["stale"]:
        return " — 이 날 발행된 책은 그대로 둡니다 (예측만 새로 저장)"
    if date is not None:
        return (" — 지난 거래일이라 저장만 하고 발행하지 않았습니다 (그날 받은 구독자가 없어 성과 기록과 "
                "보유 종목에 넣지 않습니다)")
    return " — 데이터가 늦어 저장만 하고 발행하지 않았습니다"


def cmd_signals(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.service.context import Services

    if args.top is not None and args.top < 1:
        raise KstockError("`--top`은 1 이상의 수여야 합니다")
    services = Services(ctx.settings, ctx.read_store)
    top = args.top or services.settings.top_k
    if args.json:
        print_json(signals_json(services, args.date, top))
    else:
        _print_book(services, args.date, top)
    return 0


def signals_json(services, date: str | None, top: int) -> dict:
    """The stored book as JSON: date, stale (data behind the source's clock or scored on old data), buys (the
    holdings after the day's trades, with entry new/kept/held and entry_date), exits and sells."""
    from kstock.service.daily import freshness
    from kstock.service.scoring import latest_book, publication

    day, book = latest_book(services, date)
    pub = publication(services, day)
    stale = bool(pub and pub["stale"]) or (date is None and freshness(services).stale)

    def entry(s) -> dict:
        row = asdict(s)
        return {"code": row.pop("code"), "name": row.pop("name"), "rank": row.pop("rank"), "label": row.pop("label"),
                "traded_value_20d": row.pop("traded_value_20d"), "close": row.pop("close"), **row}

    notes = (pub or {}).get("notes") or {}
    return {"date": day, "stale": stale, "buys": [entry(s) for s in book["BUY"][:top]],
            "exits": [entry(s) for s in book["EXIT"]], "sells": [entry(s) for s in book["SELL"][:top]],
            "no_basket": notes.get("no_basket"), "skipped_days": notes.get("skipped", [])}


def _print_book(services, date: str | None, top: int) -> None:
    from kstock.service.daily import freshness
    from kstock.service.presenters import format_signals
    from kstock.service.scoring import book_notes, latest_book

    day, book = latest_book(services, date)
    warning = freshness(services).warning() if date is None else None
    # the book is shown whole (a holdings line cut short would misstate it); --top limits the warnings
    print(format_signals(day, book["BUY"], book["SELL"][:top], warning, book_size=services.settings.top_k,
                         horizon=services.settings.label_horizon, exits=book["EXIT"],
                         notes=book_notes(services, day)))


def cmd_performance(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.charts.performance import render_performance_chart
    from kstock.cli.model_cmds import check_output_file, write_output_file
    from kstock.service.context import Services
    from kstock.service.ledger import days_until_first, performance
    from kstock.service.performance_view import format_performance

    if args.chart is not None:
        check_output_file(args.chart, "--chart")
    services = Services(ctx.settings, ctx.read_store)
    perf = performance(services, args.since)
    if args.chart is not None:
        if not perf.curve:
            raise KstockError("아직 성과가 측정된 발행 신호가 없어 그릴 것이 없습니다")
        write_output_file(args.chart, render_performance_chart(perf), "--chart")
    if args.json:
        print_json(perf.as_dict())
    else:
        print(format_performance(perf, days_until_first(services)))
        if args.chart is not None:
            print(f"차트: {args.chart}")
    return 0
