"""The bot's building blocks without a server: text splitting/escaping, access rules, the rate limiter,
token redaction, the single-instance lock and start-up refusals."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from telegram.error import RetryAfter

from kstock.bot.delivery import retry_after_seconds
from kstock.bot.security import (
    LOCK_DIR,
    BotAlreadyRunningError,
    InstanceLock,
    SlidingWindowLimiter,
    TokenRedactor,
    check_query,
    install_log_redaction,
    is_admin,
    is_allowed,
    lock_path,
    token_hash,
)
from kstock.bot.text import escape, split_text
from kstock.cli import main
from kstock.config import Settings, SettingsError

REPO = Path(__file__).resolve().parents[1]
TOKEN = "987654321:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def settings(tmp_path: Path, **overrides: object) -> Settings:
    return Settings.from_env({}, dotenv=None).with_overrides(db_path=tmp_path / "s.db", **overrides)


# ---- text -------------------------------------------------------------------------------------------------

def test_split_text_cuts_on_line_boundaries() -> None:
    lines = [f"line {i} " + "x" * (i % 50) for i in range(400)]
    text = "\n".join(lines)
    pieces = split_text(text, 1000)
    assert len(pieces) > 1 and all(len(p) <= 1000 for p in pieces)
    assert "\n".join(pieces) == text
    assert all(p.split("\n")[0] in lines for p in pieces)  # every piece starts with a whole line


def test_split_text_short_and_overlong_line() -> None:
    assert split_text("짧은 메시지") == ["짧은 메시지"]
    pieces = split_text("a\n" + "b" * 25 + "\nc", 10)
    assert pieces == ["a", "b" * 10, "b" * 10, "b" * 5 + "\nc"]
    assert all(len(p) <= 10 for p in pieces)


def test_escape_for_html() -> None:
    assert escape("<삼성> & \"우\"") == "&lt;삼성&gt; &amp; \"우\""


# ---- access and limits --------------------------------------------------------------------------------------

def test_admin_and_allow_list(tmp_path: Path) -> None:
    open_bot = settings(tmp_path, admin_ids=(1,))
    assert is_admin(open_bot, 1) and not is_admin(open_bot, 2) and not is_admin(open_bot, None)
    assert is_allowed(open_bot, 555, 555)
    closed = settings(tmp_path, admin_ids=(1,), allowed_chat_ids=(-100, 7))
    assert is_allowed(closed, -100, 42) and is_allowed(closed, 7, 7) and is_allowed(closed, 999, 1)
    assert not is_allowed(closed, 999, 42) and not is_allowed(closed, None, None)


def test_sliding_window_limiter() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(3, 60.0, clock=lambda: now[0])
    assert [limiter.hit("u") for _ in range(3)] == [None, None, None]
    assert limiter.hit("u") == pytest.approx(60.0)
    assert limiter.hit("other") is None  # per user
    now[0] = 30.0
    assert limiter.hit("u") == pytest.approx(30.0)  # still three in the last minute (a sliding window)
    now[0] = 60.5
    assert limiter.hit("u") is None  # the first ones slid out (a refused request is not counted)
    assert limiter.hit("u") is None and limiter.hit("u") is None
    assert limiter.hit("u") == pytest.approx(60.0)


def test_query_length_limit() -> None:
    assert check_query("삼성전자") is None and check_query("가" * 40) is None
    message = check_query("가" * 41)
    assert message is not None and "40자" in message


@pytest.mark.parametrize("timedelta_env", ["1", "false"])
def test_retry_after_seconds_int_or_timedelta(monkeypatch: pytest.MonkeyPatch, timedelta_env: str) -> None:
    """The public ``retry_after`` is a timedelta under PTB_TIMEDELTA (as ``kstock bot`` runs) and int/float seconds
    without it; both give the same wait, and no deprecation warning escapes."""
    import warnings

    monkeypatch.setenv("PTB_TIMEDELTA", timedelta_env)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB's own constructor reads the attribute (as Telegram's reply is parsed)
        whole, fraction = RetryAfter(3), RetryAfter(dt.timedelta(seconds=1.5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert retry_after_seconds(whole) == 3.0
        assert retry_after_seconds(fraction) == 1.5


# ---- the token never reaches a log line ---------------------------------------------------------------------

def test_token_redactor_covers_message_args_and_exceptions() -> None:
    redactor = TokenRedactor()
    redactor.add_secret(TOKEN)
    secret = TOKEN.split(":")[1]
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: POST %s %s", (
        f"https://api.telegram.org/bot{TOKEN}/getUpdates", "HTTP/1.1 200 OK"), None)
    redactor.filter(record)
    assert TOKEN not in record.getMessage() and secret not in record.getMessage()
    assert "bot<redacted>/getUpdates" in record.getMessage()
    try:
        raise ValueError(f"failed for url 'https://api.telegram.org/bot{TOKEN.replace(':', '%3A')}/getMe'")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    redactor.filter(record)
    assert secret not in logging.Formatter().format(record)
    other = "111222:" + "Z" * 35  # anything shaped like a token is masked too
    assert "Z" * 35 not in redactor.redact(f"x {other} y")


def test_installed_redaction_applies_to_every_logger_and_silences_httpx(caplog: pytest.LogCaptureFixture) -> None:
    install_log_redaction(TOKEN)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("telegram.Bot").info("Set Bot API URL: https://api.telegram.org/bot%s", TOKEN)
    logging.getLogger("kstock.anything.deep").warning("token=%s", TOKEN)
    logging.getLogger("telegram.ext.Application").debug("Processing update Update(chat=Chat(id=77))")
    logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot%s/getMe", TOKEN)
    assert TOKEN.split(":")[1] not in caplog.text
    assert caplog.text.count("<redacted>") >= 2
    assert logging.getLogger("httpx").getEffectiveLevel() >= logging.WARNING
    assert "id=77" not in caplog.text  # PTB's debug lines (users' updates) are kept out


# ---- one process per token; bad tokens stop the start -----------------------------------------------------

def test_instance_lock_refuses_a_second_holder(tmp_path: Path) -> None:
    path = lock_path(settings(tmp_path), TOKEN, folder=tmp_path)
    assert path.name == f"bot-{token_hash(TOKEN)}.lock" and TOKEN.split(":")[1] not in str(path)
    assert lock_path(settings(tmp_path / "elsewhere"), TOKEN).parent == LOCK_DIR  # one place, whatever the store
    with InstanceLock(path) as first:
        assert first.held
        with pytest.raises(BotAlreadyRunningError, match="이미 실행 중"):
            InstanceLock(path).acquire()
    with InstanceLock(path):  # released: can be taken again
        pass


def test_second_process_exits_with_a_clear_message(tmp_path: Path) -> None:
    path = lock_path(settings(tmp_path), TOKEN, folder=tmp_path)
    code = textwrap.dedent(f"""
        import sys
        from kstock.bot.security import InstanceLock, BotAlreadyRunningError
        try:
            InstanceLock({str(path)!r}).acquire()
        except BotAlreadyRunningError as exc:
            print(exc); sys.exit(3)
    """)
    with InstanceLock(path):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                              env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 3 and "이미 실행 중" in done.stdout and "409" in done.stdout


def test_run_bot_refuses_while_another_instance_holds_the_lock(tmp_path: Path) -> None:
    from kstock.bot import run_bot

    s = settings(tmp_path, telegram_bot_token=TOKEN, telegram_api_base_url="http://127.0.0.1:9/bot")
    with InstanceLock(lock_path(s, TOKEN)), pytest.raises(BotAlreadyRunningError):
        run_bot(s)  # returns before any network call


@pytest.mark.parametrize(("token", "expected"), [("", "설정되지 않았습니다"), ("not-a-token", "형식이 틀렸습니다"),
                                                 ("12345:has spaces in it", "형식이 틀렸습니다")])
def test_missing_or_malformed_token_stops_with_a_clear_message(tmp_path: Path, token: str, expected: str,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from kstock.bot import run_bot

    with pytest.raises(SettingsError, match=expected):
        run_bot(settings(tmp_path, telegram_bot_token=token or None))
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", token)
    monkeypatch.setenv("KSTOCK_DB", str(tmp_path / "s.db"))
    assert main(["bot"]) == 1
    err = capsys.readouterr().err
    assert "TELEGRAM_BOT_TOKEN" in err and expected in err
    if token:
        assert token not in err


def test_webhook_url_must_be_https(tmp_path: Path) -> None:
    from kstock.bot import run_bot
    from kstock.errors import KstockError

    with pytest.raises(KstockError, match="https"):
        run_bot(settings(tmp_path, telegram_bot_token=TOKEN), webhook_url="http://example.org/hook")
