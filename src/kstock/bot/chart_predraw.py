"""Pre-drawing the charts people will ask for, right after the day's scoring.

The first ``/analyze`` photo of a stock costs a matplotlib drawing (about a second with twenty users at once
on two cores); a cached one is a dictionary look-up. The names people ask about after the close are known
then: the published basket (the day's 매수 names and the 매도 warnings the push shows) and every watched
stock. :func:`schedule_predraw` analyses each of them the way ``/analyze`` does and draws its chart into
:class:`~kstock.bot.chart_renderer.ChartRenderer`'s cache, in the background at low priority (the heavy
pool, the chart worker process), so the scoring, the push and the replies never wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from kstock.errors import KstockError
from kstock.service.analyze import analyze
from kstock.service.scoring import latest_book
from kstock.service.watchlist import watching_chats

if TYPE_CHECKING:
    from kstock.bot.runtime import BotRuntime

log = logging.getLogger(__name__)

#: The 매도 warnings of the push are drawn too (the push shows this many).
SELLS_SHOWN = 5
#: Running pre-draws, kept referenced until they finish (asyncio holds tasks only weakly).
_TASKS: set[asyncio.Task] = set()


def wanted_codes(rt: BotRuntime, date: str) -> list[str]:
    """The published basket's codes (매수, then the shown 매도 warnings), then every watched stock, once each.

    Reads the store: call it off the event loop.
    """
    _, book = latest_book(rt.services, date)
    codes = [s.code for s in book["BUY"]] + [s.code for s in book["SELL"][:SELLS_SHOWN]]
    codes += [code for watched in watching_chats(rt.services.store).values() for code in watched]
    return list(dict.fromkeys(codes))


async def predraw_charts(rt: BotRuntime, date: str) -> int:
    """Analyse and draw the chart of every wanted stock of ``date`` into the cache; returns how many."""
    codes = await rt.run_store(wanted_codes, rt, date)
    drawn = 0
    for code in codes:
        try:
            analysis = await rt.run_heavy(analyze, rt.services, code)
            if analysis.result.date != date:  # a newer day arrived meanwhile: its own pre-draw follows
                break
            await rt.charts.png(analysis)
        except KstockError as exc:  # e.g. a name without prices: /analyze says the same to whoever asks
            log.info("no chart to pre-draw for %s: %s", code, exc)
            continue
        except Exception as exc:  # a picture is a nicety: never the day's work, never a traceback in the job
            log.warning("pre-drawing the chart of %s failed: %s", code, type(exc).__name__)
            continue
        drawn += 1
    log.info("pre-drew %d of %d charts for %s", drawn, len(codes), date)
    return drawn


def schedule_predraw(rt: BotRuntime, date: str) -> asyncio.Task:
    """Start :func:`predraw_charts` in the background on the running loop; the caller does not wait."""
    task = asyncio.get_running_loop().create_task(predraw_charts(rt, date), name=f"predraw-{date}")
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task


async def cancel_predraws() -> None:
    """Stop the pre-draws still running (the bot is shutting down: nobody will ask for those pictures)."""
    tasks = [t for t in _TASKS if not t.done()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
