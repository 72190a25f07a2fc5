"""The /analyze chart picture: a real PNG, robust to halts, short histories and missing fonts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kstock.charts import analysis, fonts
from kstock.charts.analysis import render_analysis_chart, save_analysis_chart
from support.images import PNG_MAGIC, decode, has_color, ohlcv_frame


def test_returns_a_png_of_the_expected_size_with_red_and_blue_candles():
    img = decode(render_analysis_chart(ohlcv_frame(), title="삼성전자 (005930)", signal="BUY"))
    assert abs(img.shape[0] - 600) <= 20 and abs(img.shape[1] - 900) <= 20
    assert img[..., :3].std() > 0.05  # not a single colour
    assert has_color(img, analysis.UP_COLOR) and has_color(img, analysis.DOWN_COLOR)


def test_halt_rows_and_short_histories_render():
    frame = ohlcv_frame(150)
    frame.iloc[100:104] = np.nan  # halts as the panel gives them
    frame.iloc[120, :] = [0, 0, 0, frame["close"].iloc[119], 0]  # a raw KRX halt row
    for data in (frame, frame.iloc[:7], frame.iloc[-3:]):
        img = decode(render_analysis_chart(data, title="005930", signal="SELL", signal_date=data.index[-2]))
        assert img[..., :3].std() > 0.05


def test_every_signal_and_dates_outside_the_chart():
    frame = ohlcv_frame(130)
    for signal in ("BUY", "sell", "HOLD", None):
        assert decode(render_analysis_chart(frame, title="x", signal=signal)).size
    halted = frame.index[51]
    frame.loc[halted] = np.nan  # a signal on a halt day lands on the last traded day before it
    for day in ("2020-01-01", halted, "2030-01-01"):  # before, inside, after the chart
        assert decode(render_analysis_chart(frame, title="x", signal="BUY", signal_date=day)).size
    traded = frame.dropna()
    assert analysis._signal_position(traded, "2020-01-01") is None
    assert analysis._signal_position(traded, halted) == 50
    assert analysis._signal_position(traded, "2030-01-01") == len(traded) - 1


def test_bad_input_gets_a_clear_error():
    frame = ohlcv_frame(30)
    with pytest.raises(ValueError, match="signal"):
        render_analysis_chart(frame, title="x", signal="STRONG BUY")
    with pytest.raises(ValueError, match="no traded day"):
        render_analysis_chart(frame * np.nan, title="x")
    with pytest.raises(ValueError, match="volume"):
        render_analysis_chart(frame.drop(columns="volume"), title="x")


def test_hangul_title_renders_without_warnings_with_or_without_a_font(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        render_analysis_chart(ohlcv_frame(60), title="삼성전자 (005930)", signal="HOLD")
    monkeypatch.setattr(fonts, "hangul_font", lambda: None)
    assert fonts.displayable("삼성전자 (005930)") == "(005930)"
    assert fonts.displayable("삼성전자") == "chart"
    assert fonts.displayable("▲ BUY 삼성전자 005930") == "▲ BUY 005930"
    monkeypatch.setattr(fonts, "hangul_font", lambda: "NanumGothic")
    assert fonts.displayable("삼성전자 (005930)") == "삼성전자 (005930)"


def test_save_analysis_chart_writes_the_png(tmp_path):
    path = save_analysis_chart(tmp_path / "out" / "chart.png", ohlcv_frame(40), title="005930")
    assert path.read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(("font", "expected"), [("NanumGothic", ["5일선", "20일선"]), (None, ["MA5", "MA20"])])
def test_moving_averages_are_named_as_korean_investors_say_them(monkeypatch: pytest.MonkeyPatch, font, expected):
    """"20일선" under a Hangul font; without one (boxes instead of letters) the English abbreviation."""
    import pandas as pd
    from matplotlib.figure import Figure

    monkeypatch.setattr(fonts, "hangul_font", lambda: font)
    ax = Figure().add_subplot(1, 1, 1)
    x = np.arange(30)
    analysis._draw_averages(ax, x, {5: pd.Series(np.linspace(1, 2, 30)), 20: pd.Series(np.linspace(2, 3, 30)),
                                    60: pd.Series(np.full(30, np.nan))})  # too short for a 60-day line: none
    assert ax.get_legend_handles_labels()[1] == expected


def test_the_decile_chart_speaks_korean_with_a_hangul_font_and_english_without(monkeypatch) -> None:
    """`kstock evaluate --chart`: Korean words where they can be drawn, English (never boxes) where not."""
    from kstock.charts import deciles
    from kstock.ml.evaluation.calibration import Band, CalibrationTable

    bands = tuple(Band(i, i / 10, (i + 1) / 10, (i - 4) / 1000, (i - 4.5) / 1000, 0.45 + i / 100, 100 + i)
                  for i in range(10))
    table = CalibrationTable(horizon=5, bands=bands, source={"kind": "walk_forward", "model": "trees"})
    assert set(deciles.KOREAN) == set(deciles.ENGLISH)
    assert "10분위" in deciles.KOREAN["x"] and "decile" in deciles.ENGLISH["x"]
    for font in (fonts.hangul_font(), None):  # the installed Hangul font (when there is one), then none
        monkeypatch.setattr(fonts, "hangul_font", lambda f=font: f)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a glyph the font lacks would warn
            png = deciles.render_decile_chart({"trees": table, "ensemble": table})
        assert png.startswith(PNG_MAGIC)
