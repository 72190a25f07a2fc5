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
    p = command(sub, "daily", cmd_daily, "하루 작업을 한 번 실행: 데이터 갱신, 채점, 그날의 신호 저장",
                "KSTOCK_DATA_SOURCE에서 데이터를 갱신한 뒤 모든 모델로 채점하고 그날의 신호를 저장합니다 — 각 "
                "단계는 거래일마다 한 번씩만 합니다 (다시 실행하면 끝난 단계는 건너뜀). 봇을 띄우지 않고 "
                "cron/systemd로 돌리는 분을 위한 명령입니다. 최신 데이터로 그날을 채점하지 못하면 종료 코드 1, "
                "다른 작업(봇이나 다른 `kstock daily`)이 저장소를 쓰고 있어 몇 초 안에 끝나지 않으면 75입니다.")
    p.add_argument("--json", action="store_true", help="JSON 보고서 (프로그램용)")
    p.add_argument("--no-progress", action="store_true", help="갱신 진행 막대를 숨깁니다")

    p = command(sub, "score", cmd_score, "하루치 시장 전체를 채점하고 신호를 저장")
    p.add_argument("--date", type=date_arg, help="저장된 거래일, YYYY-MM-DD 또는 YYYYMMDD (기본값: 마지막 거래일)")

    p = command(sub, "signals", cmd_signals, "저장된 하루치 신호 보기 (BUY 종목, SELL 경고)")
    p.add_argument("--date", type=date_arg, help="채점한 날, YYYY-MM-DD 또는 YYYYMMDD (기본값: 마지막 날)")
    p.add_argument("--top", type=int, default=None,
                   help="보여줄 SELL 경고 수 (--json과 함께면 목록마다의 항목 수); 기본값 KSTOCK_TOP_K")
    p.add_argument("--json", action="store_true",
                   help='JSON 출력 (프로그램용): {"date", "stale", "buys": [...], "sells": [...]}')

    p = command(sub, "performance", cmd_performance, "실전 성적: 발표한 BUY 신호가 실제로 어떻게 됐는지",
                "발표한 BUY 신호 하나하나를 백테스트와 같은 방식(다음 날 시가 매수 → 보유 기간 뒤 시가 매도, "
                "비용 차감)으로 매수 가능 종목 동일가중 평균 및 코스피와 비교합니다: 적중률, 평균 초과수익률과 "
                "95% 신뢰구간, 모델 버전별 성적, 누적 수익 곡선.")
    p.add_argument("--json", action="store_true",
                   help="JSON 출력 (프로그램용): days, signals, hit_rate, mean_excess_return, ci95, "
                        "by_version, curve, …")
    p.add_argument("--chart", type=Path, metavar="FILE", help="누적 수익 곡선을 PNG로 저장")
    p.add_argument("--since", type=date_arg,
                   help="이 날짜 이후(당일 포함)에 발표한 신호만 (YYYY-MM-DD 또는 YYYYMMDD)")


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
