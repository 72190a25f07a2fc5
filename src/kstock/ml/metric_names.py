"""Validation figures as a person reads them: one table for the registry's gate, the CLI and the bot
(``--json`` keeps the keys). It lives in the ml layer so the registry can name a metric without reaching up."""

from __future__ import annotations

METRIC_KO = {"rank_ic_mean": "순위 IC", "rank_ic_ir": "순위 IC 안정성(ICIR)", "auc": "AUC", "accuracy": "정확도",
             "validation_days": "검증 일수", "rank_ic_tradeable_mean": "다음 날 종가부터의 순위 IC",
             "rank_ic_next_open": "다음 날 시가 기준 순위 IC",
             "rank_ic_next_open_ir": "다음 날 시가 기준 순위 IC 안정성(ICIR)",
             "top_decile_hit": "상위 10% 적중률", "macro_f1": "macro-F1"}

#: Counts among the metrics (shown without decimals).
WHOLE_METRICS = ("validation_days",)


def metric_ko(key: str) -> str:
    """A metric's Korean name; an unknown key is shown as code."""
    return METRIC_KO.get(key, f"`{key}`")


def metric_line(key: str, value: float) -> str:
    """``이름 값`` with a count as a whole number and a statistic to four decimals."""
    return f"{metric_ko(key)} {value:.0f}" if key in WHOLE_METRICS else f"{metric_ko(key)} {value:.4f}"
