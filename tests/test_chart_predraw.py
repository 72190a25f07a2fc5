"""After the day's scoring the charts of the published basket and of every watched stock are drawn in the
background, so the first /analyze photo of one of them comes from the cache (nothing drawn on request)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kstock.bot import chart_predraw
from kstock.bot.jobs import run_scoring
from kstock.market.types import InstrumentKind
from support.bot_env import TRADING_EVENING, BotEnv, fresh_copy
from support.fake_telegram import FakeTelegramServer

pytestmark = pytest.mark.timeout(180)


def _wait_for_predraws(timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while any(not t.done() for t in chart_predraw._TASKS):
        assert time.monotonic() < deadline, "the pre-draw did not finish"
        time.sleep(0.05)


def test_the_baskets_and_watched_stocks_charts_are_drawn_before_anyone_asks(tmp_path: Path) -> None:
    root = fresh_copy(tmp_path / "env")
    with FakeTelegramServer(require_png=True) as tg, BotEnv(tg, root) as env:
        rt = env.runtime
        report = env.call(run_scoring(rt, TRADING_EVENING))
        _wait_for_predraws()
        basket = [s.code for s in report.buys]
        others = [t.code for t in env.services.store.tickers()
                  if t.kind == InstrumentKind.COMMON and not t.delisting_date and t.code not in basket]
        watched, unwatched = others[0], others[-1]
        assert "관심종목" in env.ask(801, f"/watch {watched}").text
        report = env.call(run_scoring(rt, TRADING_EVENING, force=True))  # the next scoring sees the watch
        _wait_for_predraws()
        drawn = rt.charts.rendered
        assert drawn >= len(basket) + 1

        for user, code in ((802, basket[0]), (803, watched)):
            since = env.send(user, f"/analyze {code}")
            photo = env.reply(user, since, method="sendPhoto", timeout=30)
            assert photo.is_png
        assert rt.charts.rendered == drawn  # both first photos came from the cache: nothing drawn on request

        since = env.send(804, f"/analyze {unwatched}")  # a stock nobody watches and the book does not hold
        env.reply(804, since, method="sendPhoto", timeout=30)
        assert rt.charts.rendered == drawn + 1  # drawn on request, as before


def test_a_failing_stock_does_not_stop_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = fresh_copy(tmp_path / "env")
    with FakeTelegramServer(require_png=True) as tg, BotEnv(tg, root, runtime_options={"predraw_charts": False}) as env:
        rt = env.runtime
        report = env.call(run_scoring(rt, TRADING_EVENING))
        codes = env.call(rt.run_store(chart_predraw.wanted_codes, rt, report.date))
        real = chart_predraw.analyze

        def broken_first(services, query):
            if query == codes[0]:
                raise RuntimeError("boom")
            return real(services, query)

        monkeypatch.setattr(chart_predraw, "analyze", broken_first)
        assert env.call(chart_predraw.predraw_charts(rt, report.date)) == len(codes) - 1
        assert rt.charts.rendered == len(codes) - 1
