"""Issue 12, item 5: one bot per token on a machine, and no endless fight over getUpdates.

Two ``kstock bot`` processes with one token but different store folders: the second stops at once with a
clear message (the lock is keyed on a hash of the token, in one per-machine folder, never the token
itself). When Telegram answers 409 Conflict again and again (another instance elsewhere), the bot stops
with a clear message instead of retrying forever.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kstock.bot.security import LOCK_DIR
from support.fake_telegram import FakeTelegramServer
from support.faults import SRC, root_fixture
from support.stores import data_checksum

root = root_fixture  # the suite's shared fixture: a market copy

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


@pytest.fixture(name="token")
def token_fixture() -> str:
    """A token of its own: other test runs on this machine hold other locks."""
    return f"{secrets.randbelow(10**9) + 10**9}:{secrets.token_urlsafe(30)}"


@pytest.fixture(name="tg")
def tg_fixture(token: str) -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer(token) as server:
        yield server


def _env(tg: FakeTelegramServer, store: Path) -> dict[str, str]:
    # the daily jobs are set for the end of the day, so nothing is caught up (and written) while the test runs
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(store.parent), "PYTHONPATH": str(SRC),
            "TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_BASE_URL": tg.base_url, "KSTOCK_DB": str(store),
            "KSTOCK_MODEL_DIR": str(store.parent / "models"), "KSTOCK_UPDATE_TIME": "23:57",
            "KSTOCK_SCORE_TIME": "23:58", "KSTOCK_PUSH_TIME": "23:59"}


def _bot(tg: FakeTelegramServer, store: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "kstock", "bot", "--chart-workers", "0"], cwd=store.parent,
                                env=_env(tg, store), stdout=out, stderr=subprocess.STDOUT)


def _polling(tg: FakeTelegramServer, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while not any(c.method == "getUpdates" for c in tg.calls):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def _clean_output(text: str, token: str) -> None:
    assert token not in text and token.split(":")[1] not in text, "the token leaked"
    assert "Traceback" not in text, text


def test_second_bot_with_the_token_stops_and_409s_stop_the_first(root: Path, tmp_path: Path, token: str,
                                                                  tg: FakeTelegramServer) -> None:
    other = tmp_path / "other"  # a second deployment: its own store folder and working folder
    other.mkdir()
    shutil.copy2(root / "s.db", other / "s.db")
    shutil.copytree(root / "models", other / "models")
    before = (data_checksum(root / "s.db"), data_checksum(other / "s.db"))
    first_log = tmp_path / "first.log"
    first = _bot(tg, root / "s.db", first_log)
    try:
        _polling(tg, first, first_log)
        second = subprocess.run([sys.executable, "-m", "kstock", "bot", "--chart-workers", "0"], cwd=other,
                                env=_env(tg, other / "s.db"), capture_output=True, text=True, timeout=60)
        assert second.returncode == 1, second.stderr
        assert "이미 실행 중" in second.stderr and "409" in second.stderr, second.stderr
        _clean_output(second.stdout + second.stderr, token)
        assert not any(token.split(":")[1] in p.name for p in LOCK_DIR.iterdir())  # a hash names the lock

        tg.conflict(times=1000)  # another instance elsewhere (or a webhook): every getUpdates answers 409
        started = time.monotonic()
        rc = first.wait(60)
        text = first_log.read_text()
        assert rc == 1, text
        assert time.monotonic() - started < 45
        assert "409 Conflict" in text and "다른 프로세스가 이 봇 토큰으로 업데이트를 받고 있습니다" in text, text
        assert text.strip().splitlines()[-1].startswith("kstock: 오류:"), text  # ends with one clear line
        _clean_output(text, token)
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGTERM)
            try:
                first.wait(20)
            except subprocess.TimeoutExpired:
                first.kill()
                first.wait(10)
    conflicts = [c for c in tg.calls if c.method == "getUpdates" and c.status == 409]
    assert 3 <= len(conflicts) <= 6, len(conflicts)  # it stopped instead of fighting on
    assert (data_checksum(root / "s.db"), data_checksum(other / "s.db")) == before
