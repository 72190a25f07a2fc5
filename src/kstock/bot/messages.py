"""The bot's own Korean texts (the service presenters write the analysis, signal and status texts).

All plain text: :mod:`kstock.bot.delivery` escapes it for HTML.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from kstock.bot.text import truncate
from kstock.market.dates import day_int
from kstock.ml.metric_names import metric_ko
from kstock.ml.models import KINDS, kind_label, retrain_kinds
from kstock.service.korean import kst
from kstock.service.presenters import CALL_ICON, DISCLAIMER, format_models, format_signals
from kstock.service.retrain import RetrainResult
from kstock.service.scoring import Signal


class Command(NamedTuple):
    """One bot command: its menu description, and its ``/help`` line (``usage`` — ``help``; none without help)."""

    name: str
    menu: str
    usage: str | None = None  # e.g. "/analyze 삼성전자"
    help: str | None = None
    admin: bool = False  # in each admin's own menu only (setMyCommands with BotCommandScopeChat)


#: The one list of commands: the handlers (kstock.bot.handlers), the menus (kstock.bot.menus) and /help
#: are built from it, in this order.
COMMAND_LIST: tuple[Command, ...] = (
    Command("start", "시작 및 안내"),
    Command("help", "명령어 도움말"),
    Command("analyze", "종목 분석: /analyze 삼성전자 또는 005930", "/analyze 삼성전자",
            "종목 분석 (종목명, 별명, 초성, 6자리 코드: 삼전, ㅅㅅㅈㅈ, 005930)"),
    Command("signals", "오늘의 매수·매도 상위 신호", "/signals",
            "최근 채점의 매수·매도 상위 종목 (/signals 2025-07-10: 그날 발행된 신호)"),
    Command("performance", "발행한 신호의 실제 성과 기록", "/performance",
            "지금까지 발행한 매수 신호가 실제로 낸 성과"),
    Command("watch", "관심종목 추가: /watch 삼성전자", "/watch 삼성전자",
            "관심종목 추가 (판단이 바뀌면 장 마감 후 알려 드립니다)"),
    Command("unwatch", "관심종목 삭제: /unwatch 삼성전자", "/unwatch 삼성전자", "관심종목 삭제"),
    Command("watchlist", "관심종목과 오늘의 판단", "/watchlist", "관심종목과 오늘의 판단"),
    Command("subscribe", "매일 장 마감 후 신호 받기", "/subscribe", "거래일 장 마감 후 신호를 매일 받기"),
    Command("unsubscribe", "신호 구독 해지", "/unsubscribe", "구독 해지"),
    Command("model", "서비스 중인 모델 정보", "/model", "서비스 중인 모델과 검증 지표"),
    Command("status", "데이터 신선도와 최근 작업", "/status", "데이터 기준일과 최근 작업"),
    Command("retrain", "(관리자) 모델 재학습: " + "|".join((*retrain_kinds(), "all")),
            "/retrain [" + "|".join((*retrain_kinds(), "all")) + "]", admin=True),
    Command("score", "(관리자) 오늘 시장 채점 실행", "/score", admin=True),
)
#: (command, menu description) everyone sees — setMyCommands with the default scope.
PUBLIC_COMMANDS: tuple[tuple[str, str], ...] = tuple((c.name, c.menu) for c in COMMAND_LIST if not c.admin)
#: Added to the menu only in each admin's own chat (setMyCommands with BotCommandScopeChat).
ADMIN_COMMANDS: tuple[tuple[str, str], ...] = tuple((c.name, c.menu) for c in COMMAND_LIST if c.admin)
COMMANDS: tuple[tuple[str, str], ...] = PUBLIC_COMMANDS + ADMIN_COMMANDS
#: Callback-data prefix of the buttons that open one stock's analysis from /signals and the push.
SIGNAL_BUTTON = "s:"



def retrain_targets() -> tuple[str, ...]:
    """What ``/retrain`` offers: each kind the kinds table lets retrain (:mod:`kstock.ml.models`), then ``all``."""
    return (*retrain_kinds(), "all")


RETRAIN_TARGETS = retrain_targets()  # as at import; the handlers ask retrain_targets()
STATUS_KO = {"promoted": "교체됨", "kept": "기존 모델 유지", "failed": "실패"}


def welcome(first_name: str | None, admin: bool = False) -> str:
    name = f"{first_name}님, " if first_name else ""
    return (f"안녕하세요 {name}주식 신호 봇입니다 📈\n"
            "코스피·코스닥 종목의 5일 전망을 트리·LSTM·섹터 모델로 분석해 드립니다.\n\n" + help_text(admin))


def help_text(admin: bool = False) -> str:
    lines = ["사용법:", *(f"{c.usage} — {c.help}" for c in COMMAND_LIST if c.help and not c.admin)]
    if admin:
        lines.append("관리자: " + ", ".join(c.usage for c in COMMAND_LIST if c.admin and c.usage))
    return "\n".join([*lines, "", DISCLAIMER])


ANALYZE_USAGE = "분석할 종목명이나 종목코드를 함께 입력해 주세요. 예: /analyze 삼성전자 또는 /analyze 005930"
ADMIN_ONLY = "죄송합니다. 이 명령은 관리자만 사용할 수 있습니다 🙏"
NOT_ALLOWED = "죄송합니다. 이 봇은 허용된 채팅에서만 사용할 수 있습니다."
INTERNAL_ERROR = "요청을 처리하는 중 오류가 발생했습니다. 잠시 후 다시 시도해 주세요."
RETRAIN_BUSY = "이미 재학습이 진행 중입니다. 끝난 뒤에 다시 시도해 주세요."
SCORE_BUSY = "이미 채점이 진행 중입니다. 잠시 후 /signals 로 결과를 확인해 주세요."
UNKNOWN_COMMAND = "알 수 없는 명령입니다. /help 로 사용법을 확인해 주세요."
PUSH_FOOTER = "구독 해지: /unsubscribe"


def push_text(date: str, buys: Sequence[Signal], sells: Sequence[Signal], book_size: int | None = None,
              horizon: int = 5, exits: Sequence[Signal] = (), notes: Sequence[str] = ()) -> str:
    """The daily push to subscribers: the day's trades and holdings (with the book's notes), and how to stop them."""
    return (format_signals(date, list(buys), list(sells), book_size=book_size, horizon=horizon, exits=list(exits),
                           notes=notes)
            + "\n" + PUSH_FOOTER)


def stale_note(day: str, data_date: str | None, behind: int) -> str:
    """Subscribers' note on a day whose data did not arrive: no signals rather than old ones as today's."""
    since = f"마지막 데이터는 {data_date} ({behind}거래일 전)입니다. " if data_date else ""
    return (f"⚠️ 데이터 지연 — {day} 장 마감 데이터가 아직 들어오지 않아 오늘은 신호를 보내지 않습니다. "
            f"{since}데이터가 들어오면 /signals 로 확인할 수 있습니다.\n{PUSH_FOOTER}")


def stale_admin(day: str, failure: str, data_date: str | None, behind: int) -> str:
    """The admins' alert on a stale day: what failed and how old the data is (technical detail allowed)."""
    lines = [f"⚠️ {day} 채점 보류: 데이터가 최신이 아닙니다.",
             f"저장된 마지막 거래일: {data_date or '없음'} ({behind}거래일 지남)"]
    if failure:
        lines.append(f"데이터 갱신 실패: {failure[:300]}")
    lines.append("구독자에게는 '데이터 지연' 안내만 보냅니다. 확인: /status · 수동 갱신 후 /score")
    return "\n".join(lines)


def job_line(job: Mapping[str, Any]) -> str:
    """One scheduled job (an entry of :func:`kstock.bot.jobs.describe_jobs`) as ``/status`` lists it, in KST."""
    schedule = str(job["schedule"]).replace(" KST", "")
    return f"  • {job['description']} — {kst(job['next_run'])} ({schedule})"


def signal_buttons(buys: Sequence[Signal], sells: Sequence[Signal], date: str | None = None,
                   per_row: int = 2) -> InlineKeyboardMarkup | None:
    """One button per stock of /signals or the push, opening its analysis (``s:CODE[:YYYYMMDD]``).

    ``date`` is the signals' day: a tap after a newer scoring says the list is old before answering with
    the current analysis (see :mod:`kstock.bot.analysis_flow`). Each button's emoji is the stock's call (the
    one its analysis shows: 🟢 매수, ⚪ 관망, 🔴 매도), never the list it sits in — a held name that is a
    관망 call today is ⚪ even among the holdings.
    """
    suffix = f":{day_int(date)}" if date else ""
    buttons = [InlineKeyboardButton(truncate(f"{CALL_ICON.get(s.label, '•')} {s.name}", 30),
                                    callback_data=f"{SIGNAL_BUTTON}{s.code}{suffix}")
               for items in (buys, sells) for s in items]
    if not buttons:
        return None
    return InlineKeyboardMarkup([buttons[i:i + per_row] for i in range(0, len(buttons), per_row)])


JOB_KO = {"score": "시장 채점", "push": "신호 푸시", "update": "데이터 업데이트", "watch": "관심종목 알림"}
RUN_STATUS_KO = {"ok": "완료", "failed": "실패", "skipped": "건너뜀", "running": "진행 중", "interrupted": "중단됨",
                 "stale": "데이터 지연", "kept": "기존 모델 유지"}


def _job_ko(job: str) -> str:
    if job.startswith("retrain:"):
        name = job.split(":", 1)[1]
        return f"{kind_label(name) if name in KINDS else '모델'} 재학습"
    return JOB_KO.get(job, "작업")


def status_text(state: Mapping[str, Any], admin: bool) -> str:
    """``/status`` in Korean with KST times; failure details (messages, errors) only for admins."""
    last_date, age = state.get("data_last_date"), state.get("data_age_days")
    if last_date is None:
        data = "아직 저장된 시세가 없습니다"
    else:
        data = f"{last_date} 종가 기준" + ("" if age is None else f" ({age}일 전)" if age > 0 else " (오늘)")
    lines = ["🩺 상태", f"데이터: {data}"]
    if state.get("data_warning"):  # behind the source's current trading day (service.daily.Freshness)
        lines.append(state["data_warning"])
    if admin:  # a lagging index and the market series used instead, a day that came in part (issue 21)
        lines.extend(state.get("data_notes") or [])
        if state.get("check_line"):  # stored rows that break the row rule (`kstock data check`)
            lines.append(state["check_line"])
    last = state.get("last_update") or {}
    if last.get("status") == "failed":
        detail = f": {last.get('message') or '-'}" if admin else ""
        lines.append(f"⚠️ 최근 데이터 업데이트 실패 ({kst(last.get('finished_at'))}){detail}")
    if state.get("last_scored"):
        lines.append(f"마지막 채점: {state['last_scored']}")
    if state.get("runs"):
        lines.append("최근 작업 (한국 시간):")
        for run in state["runs"][:5]:
            job = f"{_job_ko(run['job'])} `{run['job']}`" if admin else _job_ko(run["job"])
            outcome = RUN_STATUS_KO.get(run["status"], run["status"] if admin else "기타")
            line = f"  • {job} {outcome} ({kst(run['started_at'])})"
            if admin and run.get("error"):
                line += f": {run['error'][:80]}"
            lines.append(line)
    return "\n".join(lines)


def models_text(rows: Sequence[Mapping[str, Any]], admin: bool) -> str:
    """``/model``: the admin's or the user's view (:func:`~kstock.service.presenters.format_models`)."""
    return format_models(rows, admin)


def rate_limited(wait: float, per_minute: int) -> str:
    """The one limit's message: it names every request it covers (the buttons under an analysis included)."""
    return (f"요청이 너무 많습니다. {max(1, round(wait))}초 후에 다시 시도해 주세요 "
            f"(/analyze·/signals·/performance와 분석 버튼을 합쳐 1분에 {per_minute}회까지, "
            "종목을 찾지 못한 요청은 세지 않습니다).")


#: A button whose data this bot cannot read (an old keyboard, a forged or cut press): it is answered, so the
#: client stops spinning, and nothing is done.
BUTTON_EXPIRED = "만료된 버튼입니다. 명령을 다시 보내 새 버튼을 받아 주세요."


def subscribed(new: bool, push_time: str) -> str:
    head = "구독했습니다 ✅" if new else "이미 구독 중입니다."
    return f"{head} 거래일 {push_time} (한국 시간)에 매수·매도 상위 신호를 보내 드립니다. 해지: /unsubscribe"


def unsubscribed(was: bool) -> str:
    return "구독을 해지했습니다. 다시 받으려면 /subscribe" if was else "구독 중이 아닙니다. 구독하려면 /subscribe"


def retrain_usage() -> str:
    return "재학습할 모델을 고르세요: " + ", ".join(retrain_targets()) + " (예: /retrain trees)"


def _metric(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


#: The validation metrics a retrain's result shows: the gate's (next open) first.
SHOWN_METRICS = ("rank_ic_next_open", "rank_ic_mean", "auc")


def retrain_result(result: RetrainResult) -> str:
    label = kind_label(result.model)
    lines = [f"• {label}: {STATUS_KO.get(result.status, result.status)} · {result.seconds:.0f}초",
             f"  이유: {result.reason}"]
    if result.metrics:
        shown = ", ".join(f"{metric_ko(k)} {_metric(result.metrics[k])}" for k in SHOWN_METRICS
                          if k in result.metrics)
        lines.append(f"  검증: {shown}")
    if result.serving_metrics:
        shown = ", ".join(f"{metric_ko(k)} {_metric(result.serving_metrics[k])}" for k in SHOWN_METRICS
                          if k in result.serving_metrics)
        lines.append(f"  기존 모델: {shown}")
    if result.version:
        lines.append(f"  새 버전: `{result.version}`")
    return "\n".join(lines)


def weekly_retrain_summary(day: dt.date, results: Sequence[RetrainResult], skipped: Mapping[str, str]) -> str:
    """The one message admins get for the whole Sunday retrain: each kind's outcome, and the kinds skipped."""
    promoted = sum(r.status == "promoted" for r in results)
    head = (f"🗓 주간 재학습 결과 ({day}): {len(results)}개 모델 중 {promoted}개 교체"
            + (" · 일부 실패" if any(not r.ok for r in results) else ""))
    lines = [head, *[retrain_result(r) for r in results]]
    lines += [f"• {kind_label(name)}: 건너뜀 ({why})" for name, why in skipped.items()]
    return "\n".join(lines)


def retrain_progress(names: Sequence[str], log_lines: Sequence[str], started: str) -> str:
    tail = list(log_lines)[-8:]
    return "\n".join([f"🔧 재학습 진행 중: {', '.join(names)} (시작 {started})", *[f"  {line}" for line in tail]])


def retrain_done(names: Sequence[str], results: Sequence[RetrainResult]) -> str:
    ok = all(r.ok for r in results)
    head = "✅ 재학습 완료" if ok else "⚠️ 재학습 종료 (일부 실패)"
    return "\n".join([f"{head}: {', '.join(names)}", *[retrain_result(r) for r in results]])
