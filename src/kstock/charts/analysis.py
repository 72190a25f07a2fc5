"""The chart picture the bot sends with ``/analyze``: candles, volume, moving averages, the call, the
model's recent calls and the stock against KOSPI.

Read by Korean investors: red rises and blue falls, the price axis in 원, volume in 만/억, every label in
Korean. The call is tagged in the right margin beside the last close, never on top of a candle; the
model's calls of the last 60 trading days are small triangles under (매수) or over (매도) their candles;
a thin panel shows the stock relative to KOSPI (100 = the first day shown).

matplotlib is imported inside the functions (``import kstock`` stays cheap) and used through its
object API with the Agg canvas — no pyplot, so no global backend switch and no figure registry
that leaks memory in a long-running bot.

Korean labels need a Hangul font (:mod:`kstock.charts.fonts`); without one the chart still renders,
with the Hangul dropped from the title and English axis labels.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from kstock.charts import fonts
from kstock.service.chart_data import PAST_CALL_DAYS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

UP_COLOR, DOWN_COLOR = "#e03131", "#1971c2"  # Korean convention: red rises, blue falls
MA_COLORS = ("#f08c00", "#2f9e44", "#7048e8", "#495057")
SIGNAL_STYLE = {  # marker, colour, where a call inside the chart goes: below the low / above the high
    "BUY": ("^", "#2b8a3e", "below"),
    "SELL": ("v", "#c2255c", "above"),
    "HOLD": ("D", "#868e96", "above"),
}
CALL_KO = {"BUY": "매수", "HOLD": "관망", "SELL": "매도"}
RELATIVE_COLOR = "#0c8599"  # not one of MA_COLORS
#: Empty slots right of the last candle, where the call's tag sits.
MARGIN_SLOTS = 12
FIGSIZE, DPI = (9.0, 6.0), 100  # 900 × 600 px: readable on a phone, small enough to send fast
_PRICE_COLUMNS = ["open", "high", "low", "close"]


def draw_analysis(chart: tuple[pd.DataFrame, dict[str, Any]]) -> bytes:
    """The PNG of an analysis's chart request (``Analysis.chart``: the frame and its options)."""
    frame, options = chart
    return render_analysis_chart(frame, **options)


def render_analysis_chart(
    frame: pd.DataFrame,
    *,
    title: str,
    signal: str | None = None,
    signal_date: Any = None,
    ma_windows: tuple[int, ...] = (5, 20, 60),
    days: int = 120,
    past_calls: Sequence[tuple[Any, str]] | None = None,
    market: pd.Series | None = None,
    market_name: str = "KOSPI",
    market_note: str | None = None,
) -> bytes:
    """PNG bytes of a candlestick chart of the last ``days`` rows of ``frame``.

    ``frame`` has a DatetimeIndex and columns open, high, low, close, volume. Rows with a NaN price
    (or the raw KRX halt shape open = high = low = 0) are halt days: they are skipped, so the
    candles stay contiguous. Moving averages are computed on the whole frame before the cut, so
    the 60-day line starts at the left edge when enough history is given. ``signal`` (BUY, SELL or
    HOLD) is marked on ``signal_date`` — the last traded day on or before it — or on the last
    day shown when no date is given: in the right margin when that is the last candle, else above or
    below its candle. ``past_calls`` ((date, label) pairs, e.g. the stored signals) of the last
    :data:`PAST_CALL_DAYS` shown days become small markers (HOLD is not drawn: it would be on every day).
    ``market`` (index closes on the frame's dates) adds the relative-to-``market_name`` panel, with
    ``market_note`` under its label (e.g. that the index lags and what the line is past its end). Raises
    ValueError when the frame has no traded row.

    ``title`` (e.g. "삼성전자 (005930)") keeps its Hangul only when a Hangul font is installed
    (``apt-get install fonts-nanum``, then ``rm -rf ~/.cache/matplotlib``); otherwise the Hangul is
    dropped and the code remains, without warnings. About 150 ms for 120 days at 900 × 600 px.
    """
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    traded = _traded_rows(frame)
    start = frame.index.sort_values()[-days] if len(frame) > days else frame.index.min()
    shown = traded.loc[traded.index >= start]
    if shown.empty:
        raise ValueError(f"no traded day in the last {days} rows to chart")
    signal = _check_signal(signal)
    averages = {w: traded["close"].rolling(w).mean().loc[shown.index] for w in ma_windows}
    relative = _relative(shown, market)
    fig = _new_figure()
    ratios = [3, 0.8, 1] if relative is not None else [3, 1]
    axes = fig.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios, "hspace": 0.06})
    price_ax, volume_ax = axes[0], axes[-1]
    x = np.arange(len(shown))
    _draw_candles(price_ax, volume_ax, x, shown)
    _draw_averages(price_ax, x, averages)
    if past_calls:
        _draw_past_calls(price_ax, shown, past_calls, signal_date if signal else None)
    if signal is not None:
        _draw_signal(price_ax, volume_ax, shown, signal, signal_date)
    if relative is not None:
        _draw_relative(axes[1], x, relative, market_name, market_note)
    _decorate(fig, axes, shown, title, signal)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def save_analysis_chart(path: str | Path, frame: pd.DataFrame, **kwargs: Any) -> Path:
    """Render with ``render_analysis_chart(frame, **kwargs)`` and write the PNG to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render_analysis_chart(frame, **kwargs))
    return path


def _traded_rows(frame: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in [*_PRICE_COLUMNS, "volume"] if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks columns {', '.join(missing)}")
    if not isinstance(frame.index, pd.DatetimeIndex):
        raise ValueError("the frame needs a DatetimeIndex")
    prices = frame[_PRICE_COLUMNS].astype(float)
    halt = prices.isna().any(axis=1) | (prices[["open", "high", "low"]] <= 0).all(axis=1)
    return frame.loc[~halt, [*_PRICE_COLUMNS, "volume"]].astype(float).sort_index()


def _check_signal(signal: str | None) -> str | None:
    if signal is None:
        return None
    key = signal.strip().upper()
    if key not in SIGNAL_STYLE:
        raise ValueError(f"signal must be one of {', '.join(SIGNAL_STYLE)}, got {signal!r}")
    return key


def _new_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.09, right=0.97, top=0.91, bottom=0.08)
    return fig


def _draw_candles(price_ax: Axes, volume_ax: Axes, x: np.ndarray, rows: pd.DataFrame) -> None:
    """Wicks as one LineCollection, bodies and volume bars as one PolyCollection each.

    ``Axes.bar`` makes a Rectangle artist per bar and costs ~100 ms per 120 bars; one collection
    per layer keeps the whole chart near 100 ms.
    """
    o, h, lo, c, v = (rows[k].to_numpy() for k in [*_PRICE_COLUMNS, "volume"])
    colors = np.where(c >= o, UP_COLOR, DOWN_COLOR)
    span = max(float(np.nanmax(h) - np.nanmin(lo)), 1e-9)
    bottom = np.minimum(o, c)
    top = np.maximum(np.maximum(o, c), bottom + span * 0.002)  # a doji still shows a thin body
    price_ax.vlines(x, lo, h, colors=colors, linewidth=0.8, zorder=2)
    _add_boxes(price_ax, x, bottom, top, colors, zorder=3)
    _add_boxes(volume_ax, x, np.zeros_like(v), np.nan_to_num(v), colors, alpha=0.8)
    price_ax.set_xlim(-1, len(x))


def _add_boxes(ax: Axes, x: np.ndarray, bottom: np.ndarray, top: np.ndarray, colors: np.ndarray, **style) -> None:
    """Boxes of width 0.7 centred on ``x`` from ``bottom`` to ``top``, as one collection."""
    from matplotlib.collections import PolyCollection

    left, right = x - 0.35, x + 0.35
    verts = np.stack([np.stack(p, axis=-1) for p in ((left, bottom), (left, top), (right, top), (right, bottom))], 1)
    ax.add_collection(PolyCollection(verts, facecolors=colors, linewidths=0, **style))
    ax.update_datalim(np.column_stack([np.r_[left, right], np.r_[bottom, top]]))
    ax.autoscale_view()


def _draw_averages(ax: Axes, x: np.ndarray, averages: dict[int, pd.Series]) -> None:
    """The moving averages, named as Korean investors say them ("20일선"; "MA20" where no Hangul font exists)."""
    korean = fonts.hangul_font() is not None
    for i, (window, values) in enumerate(averages.items()):
        if values.notna().any():
            ax.plot(x, values.to_numpy(), color=MA_COLORS[i % len(MA_COLORS)], linewidth=1.1,
                    label=f"{window}일선" if korean else f"MA{window}")



def _signal_position(rows: pd.DataFrame, signal_date: Any) -> int | None:
    """Index of the last shown traded day on or before ``signal_date`` (None: before the chart)."""
    if signal_date is None:
        return len(rows) - 1
    pos = int(rows.index.searchsorted(pd.Timestamp(signal_date), side="right")) - 1
    return pos if pos >= 0 else None


def _draw_signal(price_ax: Axes, volume_ax: Axes, rows: pd.DataFrame, signal: str, signal_date: Any) -> None:
    """The call: a tag in the right margin at the last close, or a marker off an earlier candle."""
    pos = _signal_position(rows, signal_date)
    if pos is None:
        return
    marker, color, where = SIGNAL_STYLE[signal]
    span = float(rows["high"].max() - rows["low"].min()) or 1.0
    row = rows.iloc[pos]
    volume_ax.axvline(pos, color=color, linewidth=0.8, linestyle=":", zorder=1)
    if pos == len(rows) - 1:  # the usual case: beside the last candle, in the empty margin
        x, y = pos + 1.8, float(row["close"])
        price_ax.plot([pos + 0.5, x], [y, y], color=color, linewidth=0.8, linestyle="--", zorder=4)
        price_ax.scatter([x], [y], marker=marker, s=110, color=color, edgecolors="white", zorder=5)
        price_ax.annotate(_label(signal), (x, y), xytext=(8, 0), textcoords="offset points", ha="left", va="center",
                          color=color, fontsize=9, fontweight="bold", fontfamily=fonts.family())
        return
    y = row["low"] - span * 0.05 if where == "below" else row["high"] + span * 0.05
    price_ax.scatter([pos], [y], marker=marker, s=110, color=color, edgecolors="white", zorder=5)
    price_ax.annotate(_label(signal), (pos, y), xytext=(0, -12 if where == "below" else 9), textcoords="offset points",
                      ha="center", va="top" if where == "below" else "bottom", color=color, fontsize=9,
                      fontweight="bold", fontfamily=fonts.family())
    lo, hi = price_ax.get_ylim()
    price_ax.set_ylim(min(lo, y - span * 0.06), max(hi, y + span * 0.06))


def _label(signal: str) -> str:
    """``매수 BUY`` with a Hangul font, ``BUY`` without one."""
    return f"{CALL_KO[signal]} {signal}" if fonts.hangul_font() else signal


def _draw_past_calls(ax: Axes, rows: pd.DataFrame, calls: Sequence[tuple[Any, str]], current: Any) -> None:
    """The model's BUY/SELL calls of the last :data:`PAST_CALL_DAYS` shown days, small, off the candles."""
    first = rows.index[max(0, len(rows) - PAST_CALL_DAYS)]
    current_day = pd.Timestamp(current) if current is not None else None
    span = float(rows["high"].max() - rows["low"].min()) or 1.0
    for label, (marker, color, where) in SIGNAL_STYLE.items():
        if label == "HOLD":
            continue
        days = pd.DatetimeIndex([pd.Timestamp(d) for d, lab in calls if str(lab).upper() == label])
        days = days[(days >= first) & (days != current_day)] if current_day is not None else days[days >= first]
        pos = rows.index.get_indexer(days)
        pos = pos[pos >= 0]
        if not pos.size:
            continue
        edge = rows["low"].to_numpy()[pos] - span * 0.025 if where == "below" else \
            rows["high"].to_numpy()[pos] + span * 0.025
        ax.scatter(pos, edge, marker=marker, s=22, color=color, alpha=0.75, linewidths=0, zorder=4,
                   label=f"과거 {CALL_KO[label]} 판단" if fonts.hangul_font() else f"past {label}")


def _relative(rows: pd.DataFrame, market: pd.Series | None) -> np.ndarray | None:
    """Stock ÷ market, 100 on the first shown day where both have a value; None without a market."""
    if market is None:
        return None
    index = pd.Series(market, dtype=float).reindex(rows.index).to_numpy()
    ratio = rows["close"].to_numpy() / np.where(index > 0, index, np.nan)
    valid = np.flatnonzero(np.isfinite(ratio))
    if valid.size < 2:
        return None
    return ratio / ratio[valid[0]] * 100


def _draw_relative(ax: Axes, x: np.ndarray, relative: np.ndarray, name: str, note: str | None = None) -> None:
    ax.plot(x, relative, color=RELATIVE_COLOR, linewidth=1.1)
    ax.axhline(100, color="#adb5bd", linewidth=0.7, linestyle="--")
    last = relative[np.isfinite(relative)][-1]
    text = f"{name} 대비 {last - 100:+.1f}%" if fonts.hangul_font() else f"vs {name} {last - 100:+.1f}%"
    if note:  # Korean only with a Hangul font; else a short English stand-in
        text += f" · {note}" if fonts.hangul_font() else f" · {name} index lags: universe return after its end"
    ax.text(0.01, 0.92, text, transform=ax.transAxes, fontsize=8, va="top", color=RELATIVE_COLOR,
            fontfamily=fonts.family(), bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5},
            zorder=5)


def _decorate(fig, axes: Sequence[Axes], rows: pd.DataFrame, title: str, signal: str | None) -> None:
    from matplotlib.ticker import FuncFormatter

    from kstock.service.korean import man_eok

    korean = fonts.hangul_font() is not None
    family = fonts.family()
    price_ax, volume_ax = axes[0], axes[-1]
    heading = fonts.displayable(title) + (f"  ·  {_label(signal)}" if signal else "")
    fig.suptitle(heading, x=0.09, ha="left", fontsize=14, fontweight="bold", fontfamily=family)
    last = rows.iloc[-1]
    closing = f"{rows.index[-1]:%Y-%m-%d}  종가 {last['close']:,.0f}원" if korean else \
        f"{rows.index[-1]:%Y-%m-%d}  close {last['close']:,.0f}"
    fig.text(0.97, 0.935, closing, ha="right", fontsize=9, fontfamily=family)
    unit = "원" if korean else ""
    price_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}{unit}"))
    volume_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: man_eok(v) if korean else _short_number(v)))
    if korean:
        price_ax.set_ylabel("주가", fontsize=8, fontfamily=family)
        volume_ax.set_ylabel("거래량", fontsize=8, fontfamily=family)
    else:
        volume_ax.set_ylabel("volume", fontsize=8)
    price_ax.set_xlim(-1, len(rows) + MARGIN_SLOTS)
    handles, labels = price_ax.get_legend_handles_labels()
    if handles:  # moving averages, then the past-call markers
        price_ax.legend(handles, labels, loc="upper left", frameon=False, ncols=len(handles),
                        prop={"family": family, "size": 8})
    ticks = np.unique(np.linspace(0, len(rows) - 1, min(len(rows), 7)).round().astype(int))
    volume_ax.set_xticks(ticks, [f"{d:%Y-%m-%d}" for d in rows.index[ticks]], fontsize=8)
    for ax in axes:
        ax.grid(True, color="#e9ecef", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(labelsize=8, labelfontfamily=family[0])


def _short_number(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"
