"""The /analyze chart's marks: the call tagged in the right margin (never over a candle), the model's past
calls as small markers, the stock against KOSPI, Korean labels (원, 만/억) without font warnings."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest

from kstock.charts import analysis, fonts
from kstock.charts.analysis import render_analysis_chart
from kstock.service.korean import man_eok
from support.images import decode, has_color, ohlcv_frame


def pixels(img: np.ndarray, hex_color: str, tol: float = 0.03) -> int:
    target = np.array([int(hex_color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(img[..., :3] - target).max(axis=-1) < tol).sum())


def market_for(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(2500 * np.exp(np.cumsum(np.random.default_rng(3).normal(0, 0.01, len(frame)))), index=frame.index)


def calls_for(frame: pd.DataFrame) -> list[tuple[str, str]]:
    labels = ["BUY", "HOLD", "SELL", "HOLD"] * 15
    return [(str(d.date()), lab) for d, lab in zip(frame.index[-60:], labels, strict=True)]


def test_full_chart_renders_without_warnings_and_shows_calls_and_market() -> None:
    frame = ohlcv_frame(200)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a glyph missing from the font (원, 만) would warn
        png = render_analysis_chart(frame, title="삼성전자 (005930)", signal="BUY", signal_date=frame.index[-1],
                                    past_calls=calls_for(frame), market=market_for(frame))
    img = decode(png)
    assert has_color(img, analysis.SIGNAL_STYLE["SELL"][1], tol=0.1)  # past SELL markers (only past calls use it)
    plain = decode(render_analysis_chart(frame, title="x", signal="BUY"))
    assert pixels(img, analysis.RELATIVE_COLOR) > 300 > 10 * pixels(plain, analysis.RELATIVE_COLOR)  # the KOSPI line


def test_the_call_sits_in_the_margin_right_of_the_last_candle() -> None:
    frame = ohlcv_frame(120)
    img = decode(render_analysis_chart(frame, title="x", signal="SELL", signal_date=frame.index[-1]))
    color = np.array([int(analysis.SIGNAL_STYLE["SELL"][1][i:i + 2], 16) / 255 for i in (1, 3, 5)])
    match = np.abs(img[..., :3] - color).max(axis=-1) < 0.08
    cols = np.flatnonzero(match[:400].any(axis=0))  # the price panel
    # the axes span x ≈ 81 … 873 px over 120 + 1 + MARGIN_SLOTS slots: the last candle is at ≈ 81 + 121·6.2
    last_candle_px = 81 + (len(frame)) * (873 - 81) / (len(frame) + 1 + analysis.MARGIN_SLOTS)
    assert cols.size and cols.min() > last_candle_px, (cols.min(), last_candle_px)


def test_relative_line_is_100_on_the_first_day() -> None:
    frame = ohlcv_frame(30)
    rel = analysis._relative(frame, market_for(frame))
    assert rel is not None and rel[0] == pytest.approx(100)
    market = market_for(frame)
    expected = frame["close"].iloc[-1] / frame["close"].iloc[0] / (market.iloc[-1] / market.iloc[0])
    assert rel[-1] == pytest.approx(expected * 100)
    assert analysis._relative(frame, None) is None
    assert analysis._relative(frame, pd.Series(np.nan, index=frame.index)) is None


def test_korean_number_units() -> None:
    assert man_eok(12_345_678) == "1,235만"
    assert man_eok(3.2e12, "원") == "3.2조원"
    assert man_eok(2.5e8) == "2.5억" and man_eok(950) == "950" and man_eok(1e4) == "1만"


def test_without_a_hangul_font_the_chart_still_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fonts, "hangul_font", lambda: None)
    frame = ohlcv_frame(80)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = render_analysis_chart(frame, title="삼성전자 (005930)", signal="HOLD", past_calls=calls_for(frame),
                                    market=market_for(frame))
    assert decode(png).size and io.BytesIO(png).getbuffer().nbytes > 1000


def test_the_analysis_chart_request_carries_the_stored_calls_and_kospi(workspace) -> None:
    from kstock.service.analyze import chart_request, resolve
    from kstock.service.scoring import score_market

    _, services = workspace
    data = services.model_data()
    days = [str(d) for d in data.dates[-3:]]
    for day in days:
        score_market(services, day)
    ticker = resolve(services, "005930")
    frame, options = chart_request(services, ticker, len(data.dates) - 1, "HOLD", data)
    assert [d for d, _ in options["past_calls"]] == days  # the scored days, oldest first
    assert {label for _, label in options["past_calls"]} <= {"BUY", "HOLD", "SELL"}
    assert options["market"].index.equals(frame.index) and options["market"].notna().any()
    assert decode(render_analysis_chart(frame, **options)).size
