"""The ``/performance`` (and ``kstock performance --chart``) picture: the cumulative value of following the
daily BUY book (in horizon-day tranches) beside the equal-weighted buyable universe and KOSPI, in Korean.
"""

from __future__ import annotations

import io

from kstock.charts import fonts
from kstock.service.ledger import Performance, as_of_text


def render_performance_chart(perf: Performance) -> bytes:
    """PNG of the cumulative value of following the book vs the buyable universe and KOSPI."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    if not perf.curve:
        raise ValueError("no measured day to draw")
    family = fonts.family()
    fig = Figure(figsize=(8.0, 4.5), dpi=100, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(perf.curve)))
    for key, label, color, width in (("book", "매수 바스켓 따라하기", "#d6336c", 2.2),
                                     ("universe", "매수 가능 종목 평균", "#495057", 1.4),
                                     ("kospi", "KOSPI", "#1c7ed6", 1.4)):
        ax.plot(x, [(p[key] - 1) * 100 for p in perf.curve], color=color, linewidth=width, label=label)
    ax.axhline(0, color="#adb5bd", linewidth=0.8)
    ticks = sorted({0, len(x) // 2, len(x) - 1})
    ax.set_xticks(ticks, [perf.curve[i]["date"] for i in ticks])
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:+.1f}%"))
    ax.set_ylabel("누적 수익률", family=family)
    ax.set_title(f"발행 신호의 실제 성과 ({perf.horizon}일 보유, 비용 차감) · {as_of_text(perf)}", family=family,
                 fontsize=10)
    ax.legend(prop={"family": family, "size": 9}, loc="upper left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
