"""The bot's own Korean texts (the service presenters write the analysis, signal and status texts).

All plain text: :mod:`kstock.bot.delivery` escapes it for HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kstock.service.presenters import DISCLAIMER, MODEL_KO, format_signals
from kstock.service.retrain import RetrainResult
from kstock.service.scoring import Signal

#: (command, menu description) — registered with setMyCommands; admin commands are listed too
#: (Telegram shows one menu to everyone) and refuse politely for others.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "시작 및 안내"),
    ("help", "명령어 도움말"),
    ("analyze", "종목 분석: /analyze 삼성전자 또는 005930"),
    ("signals", "오늘의 매수·매도 상위 신호"),
    ("subscribe", "매일 장 마감 후 신호 받기"),
    ("unsubscribe", "신호 구독 해지"),
    ("model", "서비스 중인 모델 정보"),
    ("status", "데이터 신선도와 최근 작업"),
    ("retrain", "(관리자) 모델 재학습: lstm|trees|sector|all"),
    ("score", "(관리자) 오늘 시장 채점 실행"),
)

RETRAIN_TARGETS = ("lstm", "trees", "sector", "all")
STATUS_KO = {"promoted": "교체됨 (promoted)", "kept": "기존 모델 유지 (kept)", "failed": "실패 (failed)"}


def welcome(first_name: str | None) -> str:
    name = f"{first_name}님, " if first_name else ""
    return (f"안녕하세요 {name}kstock입니다 📈\n"
            "코스피·코스닥 종목의 5일 전망을 트리·LSTM·섹터 모델로 분석해 드립니다.\n\n" + help_text())


def help_text() -> str:
    return "\n".join([
        "사용법:",
        "/analyze 삼성전자 — 종목 분석 (종목명 또는 6자리 코드)",
        "/signals — 최근 채점의 매수·매도 상위 종목",
        "/subscribe — 거래일 장 마감 후 신호를 매일 받기",
        "/unsubscribe — 구독 해지",
        "/model — 서비스 중인 모델과 검증 지표",
        "/status — 데이터 기준일과 최근 작업",
        "관리자: /retrain [lstm|trees|sector|all], /score",
        "",
        DISCLAIMER,
    ])


ANALYZE_USAGE = "분석할 종목명이나 종목코드를 함께 입력해 주세요. 예: /analyze 삼성전자 또는 /analyze 005930"
ADMIN_ONLY = "죄송합니다. 이 명령은 관리자만 사용할 수 있습니다 🙏"
NOT_ALLOWED = "죄송합니다. 이 봇은 허용된 채팅에서만 사용할 수 있습니다."
INTERNAL_ERROR = "요청을 처리하는 중 오류가 발생했습니다. 잠시 후 다시 시도해 주세요."
RETRAIN_BUSY = "이미 재학습이 진행 중입니다. 끝난 뒤에 다시 시도해 주세요."
SCORE_BUSY = "이미 채점이 진행 중입니다. 잠시 후 /signals 로 결과를 확인해 주세요."
UNKNOWN_COMMAND = "알 수 없는 명령입니다. /help 로 사용법을 확인해 주세요."
PUSH_FOOTER = "구독 해지: /unsubscribe"


def push_text(date: str, buys: Sequence[Signal], sells: Sequence[Signal]) -> str:
    """The daily push to subscribers: the day's signals and how to stop them."""
    return format_signals(date, list(buys), list(sells)) + "\n" + PUSH_FOOTER


def job_line(job: Mapping[str, Any]) -> str:
    """One scheduled job (an entry of :func:`kstock.bot.jobs.describe_jobs`) as ``/status`` lists it."""
    return f"  • {job['description']} — {job['next_run'][:16].replace('T', ' ')} KST ({job['schedule']})"


def rate_limited(wait: float, per_minute: int) -> str:
    return (f"요청이 너무 많습니다. {max(1, round(wait))}초 후에 다시 시도해 주세요 "
            f"(/analyze는 1분에 {per_minute}회까지).")


def subscribed(new: bool, push_time: str) -> str:
    head = "구독했습니다 ✅" if new else "이미 구독 중입니다."
    return f"{head} 거래일 {push_time} (한국 시간)에 매수·매도 상위 신호를 보내 드립니다. 해지: /unsubscribe"


def unsubscribed(was: bool) -> str:
    return "구독을 해지했습니다. 다시 받으려면 /subscribe" if was else "구독 중이 아닙니다. 구독하려면 /subscribe"


def retrain_usage() -> str:
    return "재학습할 모델을 고르세요: " + ", ".join(RETRAIN_TARGETS) + " (예: /retrain trees)"


def _metric(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def retrain_result(result: RetrainResult) -> str:
    label = MODEL_KO.get(result.model, result.model)
    lines = [f"• {label}: {STATUS_KO.get(result.status, result.status)} · {result.seconds:.0f}초",
             f"  이유: {result.reason}"]
    if result.metrics:
        shown = ", ".join(f"{k} {_metric(result.metrics[k])}" for k in ("rank_ic_mean", "rank_ic_ir", "auc", "accuracy")
                          if k in result.metrics)
        lines.append(f"  검증: {shown}")
    if result.serving_metrics:
        shown = ", ".join(f"{k} {_metric(result.serving_metrics[k])}" for k in ("rank_ic_mean", "auc")
                          if k in result.serving_metrics)
        lines.append(f"  기존 모델: {shown}")
    if result.version:
        lines.append(f"  새 버전: {result.version}")
    return "\n".join(lines)


def retrain_progress(names: Sequence[str], log_lines: Sequence[str], started: str) -> str:
    tail = list(log_lines)[-8:]
    return "\n".join([f"🔧 재학습 진행 중: {', '.join(names)} (시작 {started})", *[f"  {line}" for line in tail]])


def retrain_done(names: Sequence[str], results: Sequence[RetrainResult]) -> str:
    ok = all(r.ok for r in results)
    head = "✅ 재학습 완료" if ok else "⚠️ 재학습 종료 (일부 실패)"
    return "\n".join([f"{head}: {', '.join(names)}", *[retrain_result(r) for r in results]])
