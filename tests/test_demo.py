"""`make demo` (scripts/demo.py) end to end in a subprocess: data, models, scoring, two /analyze answers,
their charts and the job schedule — with torch, and with torch made unimportable."""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kstock.bot.jobs import job_specs
from kstock.config import Settings
from kstock.service.presenters import DISCLAIMER

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "demo.py"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_demo(out: Path, cwd: Path, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KSTOCK_", "TELEGRAM_"))}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (extra_path, REPO / "src") if p)
    return subprocess.run([sys.executable, str(SCRIPT), "--small", "--out", str(out)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def check_common(proc: subprocess.CompletedProcess[str], out: Path) -> str:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    assert "demo: OK" in text
    # two consecutive simulated trading days through the loop, each push carrying its own day's date
    pushes = text.split("--- push for ")[1:]
    assert len(pushes) == 2
    days = [p.split(" ", 1)[0] for p in pushes]
    assert days[0] < days[1]
    for day, push in zip(days, pushes, strict=True):
        assert f"📊 {day} 장 마감 기준 신호" in push and "구독 해지: /unsubscribe" in push
    # then enough days for the ledger: /performance shows a measured record and its chart
    record = text.split("--- /performance ---\n", 1)[1]
    assert "시장을 이긴 비율" in record and "측정한 매수 신호" in record
    assert (out / "performance.png").read_bytes().startswith(PNG_MAGIC)
    # two /analyze answers exactly as the presenters write them, on the last simulated day's data
    last_day = text.split("--- /performance ---", 1)[0].rsplit("] day ", 1)[1].split()[1].rstrip(":")
    for query, head in (("005930", "삼성전자 (005930) · KOSPI"), ("SK하이닉스", "SK하이닉스 (000660) · KOSPI")):
        answer = text.split(f"--- /analyze {query} ---\n", 1)[1].split("\n--- photo:", 1)[0]
        assert head in answer.splitlines()[0]
        assert "판단: " in answer and f"기준일 {last_day}" in answer and answer.endswith(DISCLAIMER)
    for code in ("005930", "000660"):
        png = out / f"chart_{code}.png"
        assert png.read_bytes().startswith(PNG_MAGIC)
        assert f"chart:  {png}" in text
    # the schedule, from the bot's own job specs
    for spec in job_specs(Settings.from_env({}, dotenv=None)):
        shown = spec.schedule.replace(" KST", "")  # the chat shows KST times without the suffix
        assert any(line.startswith(spec.name) and shown in line for line in text.splitlines()), spec.name
    # the loop ran as the daily jobs do: each day's update and scoring recorded once for that day
    with sqlite3.connect(out / "kstock.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM signals").fetchone()[0] > 0
        for job in ("update", "score"):
            rows = conn.execute("SELECT day, status FROM job_runs WHERE job = ?", (job,)).fetchall()
            assert len(rows) == len({d for d, _ in rows}) >= 2 and {s for _, s in rows} == {"ok"}
    return text


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    from kstock.ml.models import known_kinds, torch_available

    out = tmp_path / "demo"
    text = check_common(run_demo(out, tmp_path), out)
    for name in known_kinds():
        if name == "trees" or torch_available():
            assert f"] {name}: promoted in " in text, name
    assert (out / "models" / "trees").is_dir()


@pytest.mark.slow
def test_demo_without_torch_runs_on_the_trees(tmp_path: Path) -> None:
    shim = tmp_path / "notorch"
    (shim / "torch").mkdir(parents=True)
    (shim / "torch" / "__init__.py").write_text("raise ImportError('torch hidden by the test')\n")
    out = tmp_path / "demo"
    text = check_common(run_demo(out, tmp_path, extra_path=shim), out)
    assert "] trees: promoted in " in text
    for name in ("lstm", "sector"):
        assert f"] {name}: skipped — torch가 설치되지 않음" in text
        assert f"] {name}: promoted" not in text


def _demo_module():
    spec = importlib.util.spec_from_file_location("kstock_demo_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module


def test_demo_wipes_only_its_own_folder(tmp_path: Path) -> None:
    demo = _demo_module()
    mine = tmp_path / "mine"
    demo.prepare_folder(mine)  # a new folder: created and marked
    (mine / "old.png").write_bytes(b"x")
    demo.prepare_folder(mine)  # a previous demo's folder: wiped
    assert not (mine / "old.png").exists() and (mine / demo.MARKER).exists()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("precious")
    with pytest.raises(demo.DemoError, match="refusing to wipe"):
        demo.prepare_folder(foreign)
    assert (foreign / "keep.txt").read_text() == "precious"
