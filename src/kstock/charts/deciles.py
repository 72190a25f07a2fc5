"""``kstock evaluate --chart F``: the band table as a picture — mean excess return per score decile.

One group of bars per decile, one bar per evaluated model, green where the decile beat the buyable
universe out of sample and red where it lagged; the hit rate of the top and bottom deciles and the
sample counts are written on the figure. In Korean under a Hangul font (English where none is installed,
rather than boxes), drawn with matplotlib's object API on the Agg canvas like the other :mod:`kstock.charts`.

There is no reliability diagram: the P(+target) probability is not shown to users (it mostly measures
volatility, see docs/models.md), so there is no shown probability whose calibration a user relies on.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from kstock.charts import fonts
from kstock.errors import KstockError
from kstock.ml.evaluation.calibration import N_BANDS, CalibrationTable, tables_of

GOOD, BAD = "#2b8a3e", "#c92a2a"
#: The chart's words: Korean, or English where no Hangul font is installed (boxes would be worse).
KOREAN = {"note": "{name}\n적중 {hit:.0%}\n{n:,}건", "x": "그날의 점수 10분위 (D1 가장 낮음 … D10 가장 높음)",
          "y": "{h}일 평균 초과수익률 (%)",
          "title": "표본 밖 {h}일 초과수익률: 매수 가능 종목 동일가중 대비 (다음 날 시가 → 시가, 비용 차감)"}
ENGLISH = {"note": "{name}\nhit {hit:.0%}\nn {n:,}", "x": "score decile of the day (D1 lowest … D10 highest)",
           "y": "mean {h}-day excess return, %",
           "title": "Out-of-sample {h}-day excess return over the equal-weighted buyable universe "
                    "(next open → open, net of costs)"}


def render_decile_chart(tables: dict[str, CalibrationTable], title: str = "") -> bytes:
    """PNG bytes of the mean excess return per score decile of every table."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not tables:
        raise ValueError("no calibration table to draw")
    words, family = (KOREAN if fonts.hangul_font() else ENGLISH), fonts.family()
    fig = Figure(figsize=(9.0, 5.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(tables)
    x = np.arange(N_BANDS)
    for k, (name, table) in enumerate(tables.items()):
        excess = np.array([b.mean_excess for b in table.bands]) * 100
        colors = [GOOD if e > 0 else BAD for e in np.nan_to_num(excess)]
        offset = (k - (len(tables) - 1) / 2) * width
        ax.bar(x + offset, np.nan_to_num(excess), width * 0.95, color=colors, alpha=1.0 - 0.45 * k / len(tables),
               edgecolor="#212529", linewidth=0.6, label=name)
        for i in (0, N_BANDS - 1):
            band = table.bands[i]
            if band.n:
                ax.annotate(words["note"].format(name=name, hit=band.hit_rate, n=band.n), (x[i] + offset, excess[i]),
                            ha="center", va="bottom" if excess[i] >= 0 else "top", fontsize=7, fontfamily=family)
    ax.axhline(0, color="#495057", linewidth=0.8)
    ax.margins(y=0.25)  # room for the notes above the top and below the bottom decile
    ax.set_xticks(x, [f"D{i + 1}" for i in range(N_BANDS)])
    horizon = next(iter(tables.values())).horizon
    ax.set_xlabel(words["x"], fontfamily=family)
    ax.set_ylabel(words["y"].format(h=horizon), fontfamily=family)
    ax.set_title(title or words["title"].format(h=horizon), fontsize=9, fontfamily=family)
    ax.grid(axis="y", alpha=0.3)
    if len(tables) > 1:
        ax.legend(prop={"family": family, "size": 8})
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def save_decile_chart(path: str | Path, report: dict[str, Any]) -> Path:
    """Write the decile chart of an evaluation report to ``path`` (parents created)."""
    tables = tables_of(report)
    if not tables:
        raise KstockError("평가 결과에 그릴 10분위 표가 없습니다 (평가할 수 있는 모델이 없었음)")
    folds = report.get("folds") or []
    span = f" · test {folds[0]['test_start']} … {folds[-1]['test_end']}" if folds else ""
    horizon = report.get("settings", {}).get("label_horizon", "horizon")
    title = (f"Out-of-sample excess return per score decile{span}\n(next open → open {horizon} days later, "
             "net of costs, vs the equal-weighted buyable universe)")
    png = render_decile_chart(tables, title)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    return out
