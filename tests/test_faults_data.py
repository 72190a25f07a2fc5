"""Faults on the data side while the bot serves: KRX unreachable or refusing the login during
``kstock data update``, and the store locked by another writer.

The pykrx client is faked at the seam ``tests/test_pykrx_source.py`` uses (``_import_pykrx_stock``): the
network is the fault being injected. Everything else is real — the CLI, the store file the running bot
shares, the bot's replies through PTB.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from kstock.cli import main
from kstock.market import pykrx_source
from kstock.market.pykrx_source import PykrxSource
from support.fake_telegram import FakeTelegramServer
from support.faults import (
    ADMIN,
    assert_answers,
    assert_serving,
    retrain_reply,
    root_fixture,
    serving_version,
    start_bot,
    tg_fixture,
)
from support.krx import Broken, FakeKrx, catch, logout
from support.stores import data_checksum

root, tg = root_fixture, tg_fixture  # the suite's shared fixtures: a market copy, the fake Telegram server

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]

KRX_ID, KRX_PW = "kim_trader77", "Pw!s3cret-xyz"
#: After the synthetic market's last day (2025-06-30), so every stored ticker has something to fetch.
UPDATE_END = "2025-07-18"


def _network_down() -> Any:
    """pykrx ≥ 1.2.9 logs in to KRX when imported: with no network the import itself fails."""
    raise requests.exceptions.ConnectionError("HTTPSConnectionPool(host='data.krx.co.kr'): Max retries exceeded")


def _drops_mid_update() -> Any:
    """The listing arrives, then the connection drops on the third ticker's prices."""
    return Broken(FakeKrx(), {"get_market_ohlcv"}, requests.exceptions.ConnectionError("connection reset"), after=3)


def _login_rejected() -> Any:
    """pykrx prints its login attempt (with the id) and KRX answers LOGOUT instead of data."""
    print(f"KRX 로그인 시도...\n  로그인 ID: {KRX_ID}\nKRX 로그인 실패: 자격 증명을 확인하세요.")
    return Broken(FakeKrx(), {"get_market_ticker_list"}, catch(logout))


#: fault → (fake pykrx import, what the user is told, the backoff waits taken before giving up)
KRX_FAULTS: dict[str, tuple[Callable[[], Any], str, list[float]]] = {
    "network down at login": (_network_down, "KRX에 연결할 수 없습니다 (network unreachable)", [1.0, 2.0, 4.0]),
    "network drops mid-update": (_drops_mid_update, "KRX에 연결할 수 없습니다 (network unreachable)",
                                 [1.0, 2.0, 4.0]),
    "KRX login rejected": (_login_rejected, "KRX 로그인 실패: KRX rejected the KRX_ID/KRX_PW login", []),
}


@pytest.mark.parametrize("fault", list(KRX_FAULTS))
def test_failed_data_update_keeps_the_store_and_the_bot_says_why(
    fault: str, root: Path, tg: FakeTelegramServer, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    fake_import, told, backoff = KRX_FAULTS[fault]
    monkeypatch.setenv("KRX_ID", KRX_ID)
    monkeypatch.setenv("KRX_PW", KRX_PW)
    monkeypatch.setenv("KSTOCK_DATA_SOURCE", "pykrx")
    monkeypatch.setattr(pykrx_source, "_import_pykrx_stock", fake_import)
    sleeps: list[float] = []
    real_from_settings = PykrxSource.from_settings.__func__  # type: ignore[attr-defined]

    def no_waiting(cls: type[PykrxSource], settings: Any, **kwargs: Any) -> PykrxSource:
        return real_from_settings(cls, settings, min_interval=0.0, sleep=sleeps.append, **kwargs)

    monkeypatch.setattr(PykrxSource, "from_settings", classmethod(no_waiting))
    db = root / "s.db"
    before = data_checksum(db)
    env = start_bot(tg, root)
    try:
        # the cron job runs `kstock data update` against the store the bot is serving from
        assert main(["data", "update", "--db", str(db), "--end", UPDATE_END]) == 1
        out = capsys.readouterr()
        error = out.err.splitlines()[-1]  # after tqdm's progress bar, if it got as far as the prices
        assert error.startswith(f"kstock: 오류: {told}"), out.err
        assert "저장된 데이터로 계속 제공합니다: 2025-06-30 기준" in error  # and how old the data it still serves is
        assert sleeps == backoff  # network faults are retried with backoff; a refused login is not
        assert data_checksum(db) == before  # all or nothing: the store is exactly as it was

        status = env.ask(ADMIN, "/status").text  # the admin sees the failed update and why
        assert "데이터 업데이트 실패" in status and told in status, status
        assert "2025-06-30" in status
        answer = assert_answers(env, 601)  # the bot keeps answering from the stored data
        assert "기준일 2025-06-30" in answer.text
        for text in (out.out, out.err, status, caplog.text):
            assert KRX_ID not in text and "s3cret" not in text
    finally:
        env.stop()
    assert data_checksum(db) == before


def test_store_locked_by_another_writer_is_explained_then_works(root: Path, tg: FakeTelegramServer) -> None:
    db = root / "s.db"
    before, version = data_checksum(db), serving_version(root)
    env = start_bot(tg, root)
    # the bot waits 0.3 s for a lock instead of its default 10 s, so the test need not wait
    env.services.store.set_busy_timeout(0.3)
    other = sqlite3.connect(db, isolation_level=None)  # e.g. `kstock data import` in another process
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO meta VALUES ('written-by', 'the other writer')")
    try:
        # the store's own words, or the chat's shorter "another job is using the store" (a chat waits ≤ 2 s)
        locked = ("다른 쓰기 작업이 잠그고 있습니다", "데이터 저장소를 사용하고 있습니다",
                  "데이터 저장소를 쓰고 있습니다")
        reply = env.ask(701, "/subscribe")
        assert "잠시 후 다시" in reply.text and "Traceback" not in reply.text, reply.text  # Korean, for people
        assert str(db.parent) not in reply.text  # no server paths in chat
        assert_answers(env, 702)  # reads go on while another process writes (WAL)

        since = env.send(ADMIN, "/score")
        score = tg.wait_for(lambda r: r.method == "editMessageText" and r.chat_id == ADMIN, timeout=30, since=since)
        assert "채점 실패" in score.text and any(w in score.text for w in locked), score.text
        retrain = retrain_reply(env)
        assert "재학습 종료 (일부 실패)" in retrain and any(w in retrain for w in locked), retrain
        assert_serving(root, version)
    finally:
        other.execute("COMMIT")  # the other writer finishes; its write is kept
        other.close()
    try:
        assert "구독했습니다" in env.ask(701, "/subscribe").text  # the same request now succeeds
        since = env.send(ADMIN, "/score")
        done = tg.wait_for(lambda r: r.method == "editMessageText" and r.chat_id == ADMIN and "채점 완료" in r.text,
                           timeout=30, since=since)
        assert "매수 바스켓" in done.text
        assert env.runtime.subscriptions.active_chats() == [701]
        row = env.services.store.conn.execute("SELECT value FROM meta WHERE key = 'written-by'").fetchone()
        assert row == ("the other writer",)
    finally:
        env.stop()
    assert data_checksum(db) == before
    assert_serving(root, version)
