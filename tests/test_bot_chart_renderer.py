"""Chart pictures for /analyze: drawn in a worker process, cached, shared between simultaneous requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kstock.bot.chart_renderer import ChartRenderer
from kstock.service.analyze import analyze
from kstock.service.context import Services
from support.bot_env import base_settings, fresh_copy
from support.fake_telegram import png_size


@pytest.fixture
def services(tmp_path: Path):
    root = fresh_copy(tmp_path / "env")
    services = Services(base_settings(root))
    yield services
    services.close()


def test_simultaneous_requests_share_one_drawing_and_the_cache(services: Services) -> None:
    renderer = ChartRenderer(services, workers=0)
    a, b = analyze(services, "005930"), analyze(services, "000660")

    async def scenario() -> list[bytes]:
        return await asyncio.gather(renderer.png(a), renderer.png(a), renderer.png(a), renderer.png(b))

    pictures = asyncio.run(scenario())
    assert renderer.rendered == 2  # three requests for the same picture, one drawing
    assert pictures[0] == pictures[1] == pictures[2] != pictures[3]
    assert all(png_size(p) is not None for p in pictures)
    assert asyncio.run(renderer.png(a)) == pictures[0] and renderer.rendered == 2  # cached


@pytest.mark.slow
def test_charts_are_drawn_in_a_worker_process(services: Services) -> None:
    renderer = ChartRenderer(services, workers=1)
    renderer.start()
    try:
        picture = asyncio.run(renderer.png(analyze(services, "005930")))
        assert renderer._pool is not None  # still the process pool: nothing fell back to threads
    finally:
        renderer.close()
    size = png_size(picture)
    assert size is not None and size[0] >= 600
