"""`kstock bot` end to end in a subprocess against the fake Bot API: it answers, a second process on the
same token exits with a clear message, Ctrl-C stops it cleanly, and its debug log never shows the token."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.bot_env import fresh_copy
from support.fake_telegram import FakeTelegramServer

REPO = Path(__file__).resolve().parents[1]
TOKEN = "4242424242:AAFakeTokenForTheCliTest_abcdefghij"


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_kstock_bot_process(tmp_path: Path) -> None:
    root = fresh_copy(tmp_path / "env")
    with FakeTelegramServer(token=TOKEN) as tg:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "TELEGRAM_BOT_TOKEN": TOKEN,
               "TELEGRAM_API_BASE_URL": tg.base_url, "KSTOCK_DB": str(root / "s.db"),
               "KSTOCK_MODEL_DIR": str(root / "models"), "KSTOCK_ADMIN_IDS": "1"}
        cmd = [sys.executable, "-m", "kstock", "-v", "bot", "--chart-workers", "0"]
        first = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True)
        try:
            deadline = time.monotonic() + 60
            while tg.commands is None and time.monotonic() < deadline and first.poll() is None:
                time.sleep(0.1)  # setMyCommands happens once the bot is up
            assert first.poll() is None, first.stdout.read() if first.stdout else ""
            tg.push_message(77, "/start")
            assert "주식 신호 봇" in tg.wait_for(lambda r: r.chat_id == 77, timeout=30).text

            second = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
            assert second.returncode == 1
            assert "이미 실행 중" in second.stderr and TOKEN not in second.stderr
        finally:
            first.send_signal(signal.SIGINT)
            out, _ = first.communicate(timeout=30)
    assert first.returncode == 0, out
    secret = TOKEN.split(":")[1]
    assert "DEBUG" in out and secret not in out  # -v: debug logging, still no token
    assert "Processing update" not in out and "id=77" not in out  # nor a user's chat id
