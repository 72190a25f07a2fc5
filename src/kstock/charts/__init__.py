"""The pictures people look at, one module per picture, all drawn with matplotlib's object API on the Agg
canvas (no pyplot: no global backend switch, no figure registry leaking memory in a long-running bot).

* :mod:`~kstock.charts.analysis` — the ``/analyze`` (and ``kstock analyze --chart``) candlestick chart;
* :mod:`~kstock.charts.performance` — the ``/performance`` (and ``kstock performance --chart``) record;
* :mod:`~kstock.charts.deciles` — ``kstock evaluate --chart``: excess return per score decile;
* :mod:`~kstock.charts.fonts` — the Hangul font they share.

matplotlib is imported inside the drawing functions, so importing a module here stays cheap. Not here:
the bot's off-loop drawing (:mod:`kstock.bot.chart_renderer`, a process pool and a cache) and the sector
model's input images (:mod:`kstock.features.candle_raster`, a feature computed in numpy, not a picture).
"""
