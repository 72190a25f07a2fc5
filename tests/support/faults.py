"""Shared pieces of the fault-injection suite (``tests/test_faults_*.py``, marker ``faults``; not a test module).

Every scenario injects one fault into a bot (the real PTB stack against the in-repo fake Telegram server,
see :mod:`_bot_env`) running on a private copy of the trained synthetic market, then checks three things:

1. the bot keeps answering — :func:`assert_answers` (a /start and a full /analyze: text and PNG chart);
2. nothing stored is lost — ``store_helpers.data_checksum`` of the market tables, :func:`assert_serving` for the model;
3. the user or admin is told what happened — each test asserts the words of the reply it expects.

The market copy comes from ``conftest.synth_golden`` (trees trained with one thread: on two busy cores a
two-thread LightGBM run is ~20× slower), and the bot retrains with the same small, single-threaded trees.
"""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kstock.ml.registry import ModelRegistry
from support.bot_env import ADMIN, BotEnv
from support.fake_telegram import FakeTelegramServer, SentRecord
from support.workspace import REPO, copy_workspace, fast_tree_options

#: The retrain options the bot uses in this suite (small trees, one thread).
FAST_RETRAIN = {"trees": fast_tree_options()}


def make_root(golden: Path, tmp_path: Path) -> Path:
    """A private copy of the golden store and models (``s.db``, ``models/``) under ``tmp_path``."""
    return copy_workspace(golden, tmp_path / "env")


@pytest.fixture(name="root")
def root_fixture(synth_golden: Path, tmp_path: Path) -> Path:
    """A private copy of the trained market (import it into a test module to use it as ``root``)."""
    return make_root(synth_golden, tmp_path)


@pytest.fixture(name="tg")
def tg_fixture() -> Iterator[FakeTelegramServer]:
    """The fake Telegram server, refusing a photo that is not a PNG (use it as ``tg``)."""
    with FakeTelegramServer(require_png=True) as server:
        yield server


def start_bot(tg: FakeTelegramServer, root: Path, **kwargs: Any) -> BotEnv:
    """A started :class:`BotEnv` on ``root`` that retrains with :data:`FAST_RETRAIN`."""
    options = {"retrain_options": FAST_RETRAIN, **kwargs.pop("runtime_options", {})}
    return BotEnv(tg, root, runtime_options=options, **kwargs).start()


def assert_answers(env: BotEnv, chat: int, query: str = "005930") -> SentRecord:
    """The bot still answers: /start gets the welcome, /analyze gets the analysis text and a PNG chart."""
    assert "안녕하세요" in env.ask(chat, "/start").text
    since = env.send(chat, f"/analyze {query}")
    text = env.reply(chat, since, timeout=30)
    assert "판단:" in text.text and "기준일" in text.text, text.text
    assert env.reply(chat, since, method="sendPhoto", timeout=30).is_png
    return text


def assert_serving(root: Path, version: str, name: str = "trees") -> None:
    """``version`` is still the serving one, its files match their checksums and no temporary folder is visible."""
    registry = ModelRegistry(root / "models")
    current = registry.current(name)
    assert current is not None and current.version == version, (current, version)
    assert registry.verify(current) is None
    assert all(not v.startswith(".") for v in registry.versions(name))


def serving_version(root: Path, name: str = "trees") -> str:
    current = ModelRegistry(root / "models").current(name)
    assert current is not None
    return current.version


def job_runs(root: Path, job: str) -> list[tuple[str, str | None]]:
    """(status, error) of every run of ``job``, oldest first, read through a separate read-only connection."""
    conn = sqlite3.connect(f"file:{root / 's.db'}?mode=ro", uri=True)
    try:
        return [(r[0], r[1]) for r in conn.execute("SELECT status, error FROM job_runs WHERE job = ? ORDER BY id",
                                                   (job,))]
    finally:
        conn.close()


def retrain_reply(env: BotEnv, target: str = "trees", timeout: float = 30.0) -> str:
    """Send ``/retrain <target>`` as the admin; the final text of the one progress message it edits."""
    since = env.send(ADMIN, f"/retrain {target}")
    first = env.reply(ADMIN, since)
    done = env.tg.wait_for(lambda r: r.method == "editMessageText" and r.message_id == first.message_id
                           and "재학습" in r.text and ("완료" in r.text or "종료" in r.text),
                           timeout=timeout, since=since)
    env.call(_retrain_released(env))  # the handler is done, so a job started next does not find it running
    return done.text


async def _retrain_released(env: BotEnv) -> None:
    async with env.runtime.retrain_lock:
        pass


#: The source folder, for the subprocesses the process-level faults start (PYTHONPATH).
SRC = REPO / "src"

#: ``kstock train trees`` with two hooks: a test-sized model (20 trees, one thread), and a marker file written
#: when the chosen phase is reached — "fit" while the boosters train, "save" once the model files are in the
#: registry's temporary folder but before its manifest — after which the process waits there to be killed.
TRAIN_UNTIL_KILLED = textwrap.dedent("""
    import sys, threading
    from pathlib import Path
    from kstock.ml.trees import predictor

    phase, marker, db = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    cls = predictor.TreePredictor
    real_init, real_fit, real_save = cls.__init__, cls.fit, cls.save

    def init(self, *args, **kwargs):
        real_init(self, params=predictor.TreeParams(n_estimators=20), n_jobs=1)

    def fit(self, data, train_days):
        if phase == "fit":
            marker.write_text("training")
        out = real_fit(self, data, train_days)
        if phase == "fit":
            threading.Event().wait()
        return out

    def save(self, folder):
        real_save(self, folder)
        if phase == "save":
            marker.write_text(str(folder))
            threading.Event().wait()

    cls.__init__, cls.fit, cls.save = init, fit, save
    from kstock.cli import main
    sys.exit(main(["train", "trees", "--db", db]))
""")


#: Makes every SQLite connection of the process read-only (``mode=ro``), as on a read-only file or disk: any
#: write a read command attempted would fail with "attempt to write a readonly database".
READ_ONLY_SQLITE = """
import sqlite3
from pathlib import Path
from urllib.parse import quote

_connect = sqlite3.connect


def connect(database, *args, **kwargs):
    if not kwargs.get("uri") and str(database) != ":memory:":
        database, kwargs["uri"] = f"file:{quote(str(Path(database).resolve()))}?mode=ro", True
    elif kwargs.get("uri") and "mode=" not in str(database):
        database = f"{database}{'&' if '?' in str(database) else '?'}mode=ro"
    return _connect(database, *args, **kwargs)


sqlite3.connect = connect
"""
