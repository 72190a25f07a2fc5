"""`/performance` and `kstock performance`: the ledger's live record as Korean text (its picture is in charts).

The text leads with what a follower cares about — did the published BUY names beat the market they
could have bought instead, by how much, how sure are we — and says plainly when nothing can be measured
yet. The picture is :func:`kstock.charts.performance.render_performance_chart`.
"""

from __future__ import annotations

from typing import Any

from kstock.service.korean import pct
from kstock.service.ledger import Performance, as_of_text
from kstock.service.live_ic import range_text

DISCLAIMER = "※ 투자 참고용 정보이며 투자 권유가 아닙니다."


def format_performance(perf: Performance, wait_days: int | None = None) -> str:
    """The live record in Korean; an honest empty state while no signal's horizon has passed."""
    h = perf.horizon
    how = f"※ 측정 방식: 신호 다음 날 시가 매수 → {h}거래일 뒤 시가 매도, 수수료와 매도세 차감 (백테스트와 같은 방식)."
    if perf.days == 0:
        return "\n".join(["📈 실적 기록", "아직 발행된 신호가 없습니다. 장 마감 후 채점이 끝나면 기록이 시작됩니다.",
                          DISCLAIMER])
    if perf.empty:
        wait = f" 첫 결과까지 약 {wait_days}거래일 남았습니다." if wait_days else ""
        return "\n".join(["📈 실적 기록", f"발행 {perf.days}일 · 아직 결과를 잴 수 있는 신호가 없습니다 — 신호 다음 날 "
                          f"사서 {h}거래일을 보유해야 하므로 발행 후 {h + 1}거래일이 지나야 첫 결과가 나옵니다.{wait}",
                          *latest_lines(perf.latest), how, DISCLAIMER])
    lines = ["📈 실적 기록 (발행된 매수 신호의 실제 결과)",
             f"기간 {as_of_text(perf)} · 발행 {perf.days}일 · 결과 측정 {perf.measured_days}일",
             f"측정한 매수 신호 {perf.signals:,}건 (대기 {perf.pending:,}건, 매수 불가 {perf.not_bought:,}건)",
             f"시장 대비 초과수익: 신호당 평균 {pct(perf.mean_excess_return, 2)}"
             + (f" (95% 구간 {pct(perf.ci95[0], 2)} ~ {pct(perf.ci95[1], 2)})" if perf.ci95 else ""),
             f"시장을 이긴 비율: {perf.hit_rate * 100:.0f}% · 신호당 평균 수익 {pct(perf.mean_return, 2)}"]
    if perf.curve:
        last = perf.curve[-1]
        lines.append(f"매일 매수 바스켓을 따라 했다면: {pct(last['book'] - 1)} (매수 가능 종목 평균 "
                     f"{pct(last['universe'] - 1)}, KOSPI {pct(last['kospi'] - 1)})")
    if len(perf.by_version) > 1:
        lines.append("모델 버전별:")
        for version, row in perf.by_version.items():
            lines.append(f"  • {version}: {row['signals']:,}건 · 초과 {pct(row['mean_excess_return'], 2)} · "
                         f"이긴 비율 {row['hit_rate'] * 100:.0f}%")
    lines += live_ic_lines(perf.live_ic)
    lines += latest_lines(perf.latest)
    lines += ["※ 시장 = 같은 날 매수 가능했던 종목(유동성 기준 충족 보통주)의 동일가중 평균.", how, DISCLAIMER]
    return "\n".join(lines)


def live_ic_lines(live: dict[str, Any] | None) -> list[str]:
    """The live Rank IC (the last day, the rolling mean) beside the range the model's record expects."""
    if not live or not live.get("series"):
        return []
    last = live["series"][-1]
    today = "-" if last["rank_ic"] is None else f"{last['rank_ic']:+.3f}"
    rolling = live.get("rolling")
    window = f"{live['window']}일 평균 " + ("-" if rolling is None else f"{rolling:+.3f}")
    flag = " ⚠️ 기대 범위 아래" if live.get("status") == "low" else ""
    return [f"실전 순위상관(Rank IC): {last['date']} {today} · {window}{flag}",
            f"  {range_text(live.get('expected'))}"]


def latest_lines(latest: list[dict[str, Any]]) -> list[str]:
    """One line per name of the last published baskets: entry, exit or '보유 중', return and excess."""
    if not latest:
        return []
    lines = ["최근 매수 바스켓 종목별 결과:"]
    for row in latest:
        lines.append(f"  • {row['date'][5:]} {row['name']}({row['code']}) " + _outcome(row))
    return lines


def _outcome(row: dict[str, Any]) -> str:
    if row["entry_date"] is None:
        return "· 다음 날 시가 매수 예정"
    entry = f"매수 {row['entry_date'][5:]} {_won(row['entry_price'])}"
    if row["status"] == "not_bought":
        return f"· 매수 불가 (거래정지 또는 상한가 시가, {row['entry_date'][5:]})"
    if row["exit_date"] is None:
        so_far = "" if row["return_to_date"] is None else f" · 현재 {pct(row['return_to_date'], 1)} (비용 전)"
        return f"· {entry} → 보유 중{so_far}"
    exit_ = f"매도 {row['exit_date'][5:]} {_won(row['exit_price'])}"
    excess = "" if row["excess"] is None else f" · 초과 {pct(row['excess'], 1)}"
    return f"· {entry} → {exit_} · 수익 {pct(row['net_return'], 1)}{excess}"


def _won(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}원"
