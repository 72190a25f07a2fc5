"""Korean text for results — the same words in the chat, the CLI and the demo.

Plain text only; the bot escapes it for its parse mode. Numbers are shown the way Korean investors
read them: 원 with thousands separators, percentages with a sign.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kstock.ml.base import Note
from kstock.ml.metric_names import metric_ko
from kstock.ml.models import kind_label
from kstock.service.analyze import Analysis
from kstock.service.headline import rank_text
from kstock.service.korean import man_eok
from kstock.service.model_age import age_warning
from kstock.service.scoring import Signal

DISCLAIMER = "※ 투자 참고용 정보이며 투자 권유가 아닙니다."
CALL_KO = {"BUY": "매수", "HOLD": "관망", "SELL": "매도"}
CALL_ICON = {"BUY": "🟢", "HOLD": "⚪", "SELL": "🔴"}


def won(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}원"


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:+.{digits}f}%"




def format_age(days: float | None) -> str:
    """A model's age: "오늘" under a day (no "0시간 전"), else whole days."""
    if days is None:
        return "?"
    if days < 1:
        return "오늘"
    return f"{days:.0f}일 전"


def format_analysis(a: Analysis, admin: bool = True) -> str:
    """The analysis in Korean; ``admin`` adds why a model is unavailable (with the command that fixes it)."""
    r = a.result
    lines = [
        f"{CALL_ICON.get(r.label, '')} {a.ticker.name} ({a.ticker.code}) · {a.ticker.market}",
        f"판단: {CALL_KO.get(r.label, r.label)} ({r.label})",
    ]
    if a.headline is not None:  # the call's one number: what its score band has meant out of sample
        lines.append(a.headline.text)
    lines.append(f"종가 {won(a.close)} ({pct(a.change_1d)}) · 기준일 {r.date}")
    if a.data_warning:
        lines.append(a.data_warning)
    lines += model_warning_lines(a.model_warnings)
    if a.headline is not None and a.headline.percentile is not None:
        lines.append(f"시장 내 점수 순위: {rank_text(a.headline.percentile)} (10개 등급 중 {a.headline.band + 1}등급)")
    if r.shap_top3:
        lines.append("주요 근거 (↑ 점수를 올린 요인, ↓ 내린 요인):")
        lines += [f"  • {reason.text}" for reason in r.shap_top3]
    for name, note in (r.extras.get("notes") or {}).items():  # each kind's extras (kstock.ml.models)
        lines += note_lines(note, reference=(r.extras.get("weights") or {}).get(name) == 0)
    names = sorted(set(r.members) | set(r.unavailable))
    lines.append("모델: " + " · ".join(_member_line(name, r, a, admin) for name in names))
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def note_lines(note: Note, reference: bool = False) -> list[str]:
    """A kind's note as shown: "title: text", or "title:" over one "  • " line each when listed; nothing without
    lines. ``reference``: the kind weighs 0 in the call, and the title line says so."""
    if not note.lines:
        return []
    suffix = " (참고용 · 종합 판단에 반영 안 함)" if reference else ""
    if note.listed:
        return [f"{note.title}{suffix}:", *(f"  • {line}" for line in note.lines)]
    return [f"{note.title}: {' / '.join(note.lines)}{suffix}"]


def model_warning_lines(warnings: Mapping[str, str]) -> list[str]:
    """One line per warning, naming every kind it applies to: three models trained on the same old data are
    one "⚠️ 12거래일 전 데이터로 학습한 모델 (…, …, …)", not three lines saying the same."""
    kinds: dict[str, list[str]] = {}
    for name, warning in warnings.items():
        kinds.setdefault(warning, []).append(kind_label(name))
    return [f"{warning} ({', '.join(labels)})" for warning, labels in kinds.items()]


def format_chart_caption(a: Analysis) -> str:
    """The caption of the chart photo the bot sends after the analysis text."""
    r = a.result
    return f"{a.ticker.name} ({a.ticker.code}) · {r.date} · {CALL_KO.get(r.label, r.label)} ({r.label})"


def _member_line(name: str, r, a: Analysis, admin: bool = True) -> str:
    label = kind_label(name)
    if name in r.unavailable:
        return f"{label} 사용 불가 ({r.unavailable[name]})" if admin else f"{label} 준비 중"
    return f"{label} {format_age(a.model_ages.get(name))} 학습"


def format_signals(date: str, buys: list[Signal], sells: list[Signal], warning: str | None = None,
                   book_size: int | None = None, horizon: int = 5, exits: list[Signal] | None = None,
                   notes: Sequence[str] = ()) -> str:
    """The day's book as a follower reads it: what to buy and sell at the next open, what is held since when,
    and SELL warnings for holders.

    ``buys`` are the book's holdings after the day's trades (``entry`` new / kept / held, with the day each
    holding started), ``exits`` the names sold at the next open. ``warning`` is the ⚠️ line of
    :meth:`kstock.service.daily.Freshness.warning` when the data is old; every list says the date of the data
    it was computed from. Each name carries its headline — what its score band has meant out of sample over
    ``horizon`` days (KSTOCK_LABEL_HORIZON) — when one is measured. ``notes`` are the publication's own lines
    (:func:`kstock.service.scoring.book_notes`: skipped days, why there is no basket). Dates beside a held
    name are the day it was first bought, so a kept name never reads as bought today.
    """
    lines = [f"📊 {date} 장 마감 기준 신호 (데이터 기준일 {date})"]
    if warning:
        lines.append(warning)
    lines += list(notes)
    new = [s for s in buys if s.entry in (None, "new")]
    kept = [s for s in buys if s.entry == "kept"]
    held = [s for s in buys if s.entry == "held"]
    lines.append(f"🟢 매수 바스켓 — 다음 거래일 시가에 새로 살 종목 ({len(new)})")
    if not new:
        lines.append("  (없음 — 위 ⛔ 안내 참고)" if any(n.startswith("⛔") for n in notes) else "  (없음)")
    for s in new:
        lines.append(f"  {s.rank:>2}위 {s.name}({s.code}) {won(s.close)}{_expected(s, horizon)}")
        lines.append(f"       20일 평균 거래대금 {man_eok(s.traded_value_20d, '원')}")
    if kept:
        lines.append(f"🔁 계속 보유 — {horizon}일이 지났지만 아직 상위권 ({len(kept)}): "
                     + ", ".join(f"{s.name}({s.code}, {_md(_since(s))} 매수)" for s in kept))
    if exits:
        lines.append(f"🔻 다음 거래일 시가에 팔 종목 ({len(exits)}): "
                     + ", ".join(f"{s.name}({s.code}, {_md(_since(s))} 매수)" for s in exits))
    if held or kept:
        size = f"/{book_size}" if book_size else ""
        everything = sorted(held + kept + new, key=lambda s: s.rank)
        lines.append(f"📋 보유 종목 {len(everything)}{size}: "
                     + ", ".join(f"{s.name}({_md(_since(s))}~)" for s in everything))
    lines.append("🔴 약세 신호 — 보유 중이면 주의 (공매도 권유 아님)")
    if not sells:
        lines.append("  (없음)")
    for s in sells:
        lines.append(f"  {s.name}({s.code}) {won(s.close)}{_expected(s, horizon)}")
    if any(s.expected_excess is not None for s in (*buys, *sells)):
        lines.append(f"※ 예상 초과수익률: 과거 같은 점수 등급 종목이 다음 날 시가에 사서 {horizon}일 보유했을 때 "
                     "매수 가능 종목 평균보다 더 번 수익(비용 차감, 학습에 쓰지 않은 기간의 기록)")
    lines.append(f"※ 따라 하기: 매일 새 종목을 같은 금액으로 사고 {horizon}거래일 뒤 시가에 팝니다 "
                 "(상위권이면 계속 보유).")
    lines.append(DISCLAIMER)
    return "\n".join(lines)


def _since(s: Signal) -> str | None:
    """The day a held name was first bought (its entry day for a book stored before that was kept)."""
    return s.bought_on or s.entry_date


def _md(day: str | None) -> str:
    return "?" if not day else f"{int(day[5:7])}/{int(day[8:10])}"


def _expected(s: Signal, horizon: int) -> str:
    if s.expected_excess is None:
        return ""
    hit = f", 적중 {s.hit_rate * 100:.0f}%" if s.hit_rate is not None else ""
    return f" · 예상 {horizon}일 초과 {pct(s.expected_excess)}{hit}"


def share_text(share: float | None) -> str:
    """A model's part in the served call, for /model: its share, or that it is shown for reference only."""
    if share is None:
        return ""
    return f" · 종합 판단 비중 {share:.0%}" if share > 0 else " · 종합 판단에 반영 안 함 (참고용)"


def format_models(rows: Sequence[Mapping[str, Any]], admin: bool = True) -> str:
    """``kstock models`` and ``/model``: admins get versions, metric names and why a model is missing; users a
    Korean summary. Both say each model's share of the served call."""
    lines = ["🤖 서비스 중인 모델"]
    for row in rows:
        label = kind_label(row["name"])
        if not row["available"]:
            lines.append(f"• {label}: {('사용 불가 — ' + row['reason']) if admin else '준비 중'}")
            continue
        lines.append(f"• {label}: " + (_admin_model_line(row) if admin else _user_model_line(row))
                     + share_text(row.get("ensemble_share")))
        if row.get("expired"):  # past KSTOCK_MODEL_MAX_AGE: everyone is told, nothing stale is served silently
            lines.append(f"  {age_warning(row['age_trading_days'])}")
        if admin and row.get("reason"):  # an older version serves because the pointer or the newer one is broken
            lines.append(f"  ⚠️ {row['reason']}")
    return "\n".join(lines)


def _admin_model_line(row: Mapping[str, Any]) -> str:
    v = row.get("validation") or {}
    metrics = ", ".join(f"{metric_ko(k)} {v[k]:.3f}" for k in ("rank_ic_next_open", "rank_ic_mean", "auc")
                        if isinstance(v.get(k), float))
    rng = row.get("data_range") or ["?", "?"]
    return (f"`{row['version']}` · {format_age(row['age_days'])} 학습 · 데이터 {rng[0]}~{rng[1]}"
            + (f" · 검증 {metrics}" if metrics else ""))


def _user_model_line(row: Mapping[str, Any]) -> str:
    v = row.get("validation") or {}
    rng = row.get("data_range") or ["?", "?"]
    line = f"{format_age(row['age_days'])} 학습 · 학습 데이터 {rng[0]} ~ {rng[1]}"
    if isinstance(v.get("rank_ic_mean"), float):
        line += f" · 검증 순위상관 {v['rank_ic_mean']:+.3f}"
    return line
