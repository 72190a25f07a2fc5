"""Issue 12, item 6: the smaller faults, each through the front door (the CLI in a subprocess or the bot).

Bad settings and paths are refused at start with one line naming the variable or option; a mistyped store
is refused rather than created empty; an import says why each file was rejected, with long cells cut; a
token Telegram rejects ends in one line; a chat outside the allow-list is answered at most once an hour;
and a bot killed during /retrain cleans its temporary folder and fixes the stale progress message at start.
Nothing stored changes in any of them.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from kstock.bot import messages
from kstock.bot.leftovers import INTERRUPTED_TEXT
from support.fake_telegram import FakeTelegramServer
from support.faults import ADMIN, SRC, assert_serving, job_runs, root_fixture, serving_version, start_bot, tg_fixture
from support.stores import data_checksum

root, tg = root_fixture, tg_fixture  # the suite's shared fixtures: a market copy, the fake Telegram server

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]


def _cli(root: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "PYTHONPATH": str(SRC),
            "KSTOCK_DB": str(root / "s.db"), "KSTOCK_MODEL_DIR": str(root / "models")}
    return subprocess.run([sys.executable, "-m", "kstock", *argv], cwd=root, env={**base, **env},
                          capture_output=True, text=True, timeout=120)


def _one_clean_line(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("kstock: 오류:")]
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


BAD_SETTINGS = [
    ({"KSTOCK_DB": "/proc/x/y.db"}, ["data", "status"], "KSTOCK_DB"),
    ({"KSTOCK_DB": "/proc/x"}, ["data", "status"], "KSTOCK_DB"),
    ({"KSTOCK_DB": "/proc/x/y.db"}, ["data", "synth", "--tickers", "25", "--years", "0.5"], "KSTOCK_DB"),
    ({"KSTOCK_MIN_TRADED_VALUE": "nan"}, ["data", "status"], "KSTOCK_MIN_TRADED_VALUE"),
    ({"KSTOCK_MIN_TRADED_VALUE": "inf"}, ["models"], "KSTOCK_MIN_TRADED_VALUE"),
    ({"KSTOCK_CHART_SIZE": "100000"}, ["models"], "KSTOCK_CHART_SIZE"),
    ({"KSTOCK_MODEL_DIR": "/proc/kstock-models"}, ["train", "trees"], "KSTOCK_MODEL_DIR"),
]


def test_bad_settings_and_paths_are_one_line_naming_them(root: Path, tmp_path: Path) -> None:
    before = data_checksum(root / "s.db")
    for env, argv, name in BAD_SETTINGS:
        _one_clean_line(_cli(root, *argv, **env), name)
    folder = tmp_path / "charts"
    folder.mkdir()
    for chart in (folder, Path("/proc/x.png"), tmp_path / "nonexistent" / "dir" / "x.png"):
        _one_clean_line(_cli(root, "analyze", "005930", "--chart", str(chart)), "--chart")
    assert not (tmp_path / "nonexistent").exists()  # never created silently
    typo = root / "kstokc.db"  # a mistyped --db: refused, not created empty
    for argv in (["analyze", "005930"], ["lookup", "005930"], ["models"], ["signals"], ["data", "status"],
                 ["train", "trees"]):
        _one_clean_line(_cli(root, *argv, "--db", str(typo)), "없습니다")
    assert not typo.exists()
    assert data_checksum(root / "s.db") == before


def test_import_says_why_each_file_was_rejected_and_cuts_long_cells(root: Path, tmp_path: Path) -> None:
    before = data_checksum(root / "s.db")
    folder = tmp_path / "csv"
    (folder / "x.csv").mkdir(parents=True)  # folders named like CSV files
    (folder / "005930.csv").mkdir()
    (folder / "000660.csv").write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,1," + "9a" * 50_000 + ",5\n")
    for code in range(1, 17):
        (folder / f"{code:06d}.csv").write_text("foo,bar\n1,2\n")
    done = _cli(root, "data", "import", str(folder), "--no-progress")
    _one_clean_line(done, "그 밖의 잘못된 파일 18개는 위에 이유와 함께 있습니다", "아무것도 가져오지 않았습니다")
    skipped = {line.split(":", 1)[0].removeprefix("건너뜀 ") for line in done.stderr.splitlines()
               if line.startswith("건너뜀 ")}
    assert skipped == {p.name for p in folder.iterdir()}  # every file, each with its reason
    assert "005930.csv: CSV 파일이 아니라 폴더입니다" in done.stderr and "000660.csv: 2행 (" in done.stderr
    assert max(len(line) for line in done.stderr.splitlines()) < 400  # the 100 KB cell is cut
    assert data_checksum(root / "s.db") == before


def test_rejected_token_is_one_line_without_traceback(root: Path, tg: FakeTelegramServer) -> None:
    before = data_checksum(root / "s.db")
    wrong = f"{secrets.randbelow(10**9) + 10**9}:{secrets.token_urlsafe(30)}"  # Telegram does not know it
    done = _cli(root, "bot", "--chart-workers", "0", TELEGRAM_BOT_TOKEN=wrong, TELEGRAM_API_BASE_URL=tg.base_url)
    _one_clean_line(done, "텔레그램이 `TELEGRAM_BOT_TOKEN`을 거부했습니다")
    assert len(done.stderr.strip().splitlines()) <= 3, done.stderr  # no 40-line library traceback first
    assert wrong.split(":")[1] not in done.stdout + done.stderr
    assert data_checksum(root / "s.db") == before


def test_a_chat_outside_the_allow_list_is_answered_once(root: Path, tg: FakeTelegramServer) -> None:
    before = data_checksum(root / "s.db")
    env = start_bot(tg, root, overrides={"allowed_chat_ids": (501,)})
    try:
        first = env.ask(666, "/start")
        assert first.text == messages.NOT_ALLOWED
        for i in range(29):
            env.send(666, f"/analyze 005930 #{i}")
        assert "안녕하세요" in env.ask(501, "/start").text  # an allowed chat, after them: all were handled
        time.sleep(0.5)
        assert len(env.sent_to(666)) == 1, env.sent_to(666)  # 30 messages, one answer
    finally:
        env.stop()
    assert data_checksum(root / "s.db") == before


#: ``kstock bot`` whose tree model trains small and, once its files are written, waits there to be killed.
BOT_UNTIL_KILLED = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from kstock.ml.trees import predictor

    marker = Path(sys.argv[1])
    cls = predictor.TreePredictor
    real_init, real_save = cls.__init__, cls.save

    def init(self, *args, **kwargs):
        real_init(self, params=predictor.TreeParams(n_estimators=20), n_jobs=1)

    def save(self, folder):
        real_save(self, folder)
        marker.write_text(str(folder))
        threading.Event().wait()

    cls.__init__, cls.save = init, save
    from kstock.cli import main
    sys.exit(main(["bot", "--chart-workers", "0"]))
""")


def test_bot_killed_during_retrain_cleans_up_and_fixes_the_progress_message(root: Path, tmp_path: Path,
                                                                           tg: FakeTelegramServer) -> None:
    version, before = serving_version(root), data_checksum(root / "s.db")
    marker, log = tmp_path / "saving", tmp_path / "bot.log"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(root), "PYTHONPATH": str(SRC),
           "KSTOCK_DB": str(root / "s.db"), "KSTOCK_MODEL_DIR": str(root / "models"), "TELEGRAM_BOT_TOKEN": tg.token,
           "TELEGRAM_API_BASE_URL": tg.base_url, "KSTOCK_ADMIN_IDS": str(ADMIN),
           "KSTOCK_UPDATE_TIME": "23:57", "KSTOCK_SCORE_TIME": "23:58", "KSTOCK_PUSH_TIME": "23:59"}
    with log.open("w") as out:
        bot = subprocess.Popen([sys.executable, "-c", BOT_UNTIL_KILLED, str(marker)], cwd=root, env=env, stdout=out,
                               stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not any(c.method == "getUpdates" for c in tg.calls):
            assert bot.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        since = len(tg.sent)
        tg.push_message(ADMIN, "/retrain trees")
        progress = tg.wait_for(lambda r: r.chat_id == ADMIN and r.method == "sendMessage" and "재학습" in r.text,
                               timeout=30, since=since)
        while not marker.exists():
            assert bot.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        os.kill(bot.pid, signal.SIGKILL)
        bot.wait(30)
    trees = root / "models" / "trees"
    assert [p for p in trees.iterdir() if p.name.startswith(".tmp-")]  # what the killed bot left
    shown = tg.message(ADMIN, progress.message_id)
    assert shown is not None and "완료" not in shown["text"] and "중단" not in shown["text"]  # "in progress" forever

    since = len(tg.sent)
    restarted = start_bot(tg, root)  # the next start cleans up
    try:
        fixed = tg.wait_for(lambda r: r.method == "editMessageText" and r.message_id == progress.message_id,
                            timeout=30, since=since)
        assert fixed.text == INTERRUPTED_TEXT and "중단" in fixed.text
        assert not [p for p in trees.iterdir() if p.name.startswith(".tmp-")]
        assert job_runs(root, "retrain:trees")[-1][0] == "failed"
        assert_serving(root, version)
        time.sleep(0.3)
        assert len([r for r in tg.sent[since:] if r.message_id == progress.message_id]) == 1  # edited once
    finally:
        restarted.stop()
    assert data_checksum(root / "s.db") == before
