"""Faults in the model path, seen through the running bot: corrupt model files, a retrain that raises,
diverges (NaN) or validates worse, and the disk filling up while a new version is saved.

``tests/test_registry.py`` checks the registry and ``retrain`` on their own; here each fault is followed
to what the user and the admin see, and the serving model is checked to be the same, intact version.
"""

from __future__ import annotations

import errno
import json
import os
import pathlib
from collections.abc import Callable
from pathlib import Path

import pytest

from kstock.bot.analysis_flow import NO_MODEL_KO
from kstock.bot.jobs import run_weekly_retrain
from kstock.ml.registry import ModelRegistry
from support.fake_telegram import FakeTelegramServer
from support.faults import (
    ADMIN,
    assert_answers,
    assert_serving,
    job_runs,
    retrain_reply,
    root_fixture,
    serving_version,
    start_bot,
    tg_fixture,
)
from support.models import FailingTrees, InverseTrees, NanTrees, truncate, use_model
from support.stores import data_checksum

root, tg = root_fixture, tg_fixture  # the suite's shared fixtures: a market copy, the fake Telegram server

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]


def _garble(path: Path) -> None:
    """Same size, different bytes in the middle: only a checksum notices."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\x00" * 64
    path.write_bytes(bytes(data))


def _bad_checksum(version: Path) -> None:
    """The files are intact but the manifest's checksum of one of them is wrong."""
    meta = json.loads((version / "meta.json").read_text())
    meta["files"]["lgb_up.txt"] = "0" * 64
    (version / "meta.json").write_text(json.dumps(meta))


CORRUPTIONS: dict[str, Callable[[Path], object]] = {
    "booster truncated": lambda v: truncate(v / "lgb_rank.txt", 0.5),
    "booster garbled": lambda v: _garble(v / "xgb_rank.ubj"),
    "bad checksum": _bad_checksum,
    "missing manifest": lambda v: (v / "meta.json").unlink(),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_model_is_refused_the_user_is_told_and_a_retrain_recovers(
    corruption: str, root: Path, tg: FakeTelegramServer
) -> None:
    broken = serving_version(root)
    CORRUPTIONS[corruption](root / "models" / "trees" / broken)
    before = data_checksum(root / "s.db")
    env = start_bot(tg, root)
    try:
        reply = env.ask(611, "/analyze 005930")  # the registry refuses the files before any library reads them
        assert reply.text == NO_MODEL_KO  # a user gets Korean, without the developer details
        reply = env.ask(ADMIN, "/analyze 005930")  # an admin gets what is wrong and what fixes it
        told = reply.text
        assert "쓸 수 있는 학습된 모델이 없습니다" in told and "trees" in told and "/retrain trees" in told, told
        assert "아직 학습되지 않음" not in reply.text  # it was trained: the admin is told it is broken, not missing
        assert "`" not in reply.text and "<code>" in reply.text  # the command as code, not literal backticks
        assert "안녕하세요" in env.ask(611, "/start").text
        models = env.ask(ADMIN, "/model").text
        assert "트리(LightGBM+XGBoost): 사용 불가" in models, models

        done = retrain_reply(env)  # the admin replaces it
        assert "✅ 재학습 완료" in done and "교체됨" in done, done
        assert_serving(root, serving_version(root))
        assert serving_version(root) != broken
        assert broken in ModelRegistry(root / "models").versions("trees")  # the broken files are kept to inspect
        assert_answers(env, 612)
    finally:
        env.stop()
    assert data_checksum(root / "s.db") == before


#: bad candidate → (what the admin reads, the job_runs status, a word of the reason)
BAD_RETRAINS = {
    "fit raises": (FailingTrees, "실패", "failed", "boom: out of memory"),
    "NaN predictions": (NanTrees, "실패", "failed", "숫자가 아닙니다"),
    "worse model": (InverseTrees, "기존 모델 유지", "kept", "넘게 나빠"),
}


@pytest.mark.parametrize("bad", list(BAD_RETRAINS))
def test_bad_retrain_keeps_the_serving_model_and_tells_the_admin(
    bad: str, root: Path, tg: FakeTelegramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, shown, status, why = BAD_RETRAINS[bad]
    version = serving_version(root)
    versions = ModelRegistry(root / "models").versions("trees")
    use_model(monkeypatch, model)
    env = start_bot(tg, root)
    try:
        done = retrain_reply(env)  # the admin's /retrain
        assert "재학습" in done and shown in done and why in done, done
        assert_serving(root, version)
        assert [s for s, _ in job_runs(root, "retrain:trees")][-1] == status

        result = env.call(run_weekly_retrain(env.runtime, env.bot, name="trees"))  # the Sunday job
        assert result is not None and result.status == status
        note = tg.wait_for(lambda r: r.chat_id == ADMIN and "주간 재학습 결과" in r.text, timeout=10)
        assert shown in note.text and why in note.text, note.text
        runs = job_runs(root, "retrain:trees")
        assert [s for s, _ in runs[-2:]] == [status, status]
        if status == "failed":
            assert all(why in (error or "") for _, error in runs[-2:])
        assert_serving(root, version)
        assert ModelRegistry(root / "models").versions("trees") == versions  # nothing new on disk either
        assert_answers(env, 621)
    finally:
        env.stop()


#: which write hits ENOSPC → the file name written at that moment
DISK_FULL_AT = {
    "model files": "predictor.json",  # the model's own writer, after its boosters
    "manifest": "meta.json",  # the registry's checksums and metadata
    "serving pointer": "CURRENT.tmp",  # the promotion itself
}


@pytest.mark.parametrize("where", list(DISK_FULL_AT))
def test_disk_full_while_saving_promotes_nothing_and_tells_the_admin(
    where: str, root: Path, tg: FakeTelegramServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    version = serving_version(root)
    models = root / "models"
    target = DISK_FULL_AT[where]
    real_write_text = pathlib.Path.write_text

    def write_text(self: Path, *args: object, **kwargs: object) -> int:
        if self.name == target and models in self.parents:
            real_write_text(self, "", encoding="utf-8")  # the file is created, then the disk is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write_text(self, *args, **kwargs)  # type: ignore[arg-type]

    env = start_bot(tg, root)
    try:
        with monkeypatch.context() as mp:
            mp.setattr(pathlib.Path, "write_text", write_text)
            done = retrain_reply(env)
        assert "실패" in done and "No space left on device" in done, done
        assert "서비스 중인 모델은 그대로" in done and "학습 실패" not in done  # it trained; the save failed
        assert_serving(root, version)
        leftovers = [p.name for p in (models / "trees").iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
        assert leftovers == []  # no half-written folder or pointer is left behind
        status, error = job_runs(root, "retrain:trees")[-1]
        assert status == "failed" and "No space left on device" in (error or "")
        assert_answers(env, 631)

        done = retrain_reply(env)  # space freed: the next retrain succeeds
        assert "교체됨" in done, done
        assert serving_version(root) != version
        assert_serving(root, serving_version(root))
    finally:
        env.stop()
