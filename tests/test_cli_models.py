"""`kstock train|tune|evaluate|analyze|models|score|signals` end to end on the synthetic store.

Commands run in-process through ``kstock.cli.main`` (settings from the environment, as a user runs
them); tree models are made fast (20 rounds, one thread) by swapping the model factory.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kstock.cli import main
from kstock.ml import models as model_kinds
from kstock.ml.trees import TreePredictor
from support.workspace import FAST_TREES, REPO


def assert_clean_error(rc: int, out: str, err: str, *needles: str) -> None:
    assert rc == 1
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("kstock: 오류: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


# -- analyze -----------------------------------------------------------------------------------------------
def test_analyze_json(cli) -> None:
    rc, out, err = cli("analyze", "삼성전자", "--json")
    assert rc == 0, err
    payload = json.loads(out)
    assert payload["code"] == "005930" and payload["name"] == "삼성전자"
    assert 0.0 <= payload["probability"] <= 1.0
    assert payload["label"] in ("BUY", "HOLD", "SELL")
    assert len(payload["shap_top3"]) == 3
    assert all({"feature", "value", "contribution", "text"} <= set(r) for r in payload["shap_top3"])
    assert "trees" in payload["model_versions"]
    assert payload["date"] == "2025-06-30"
    assert payload["close"] > 0
    headline = payload["headline"]  # the call's one number, read from the same band as the label
    assert headline["call"] == payload["label"] and headline["text"].startswith("예상 5일 초과수익률")


def test_analyze_text_and_chart(cli, tmp_path: Path) -> None:
    chart = tmp_path / "c.png"  # in a folder that exists: --chart never creates folders
    rc, out, err = cli("analyze", "005930", "--chart", str(chart))
    assert rc == 0, err
    assert "삼성전자 (005930)" in out and f"차트: {chart}" in out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _halt(root: Path) -> tuple[str, str]:
    from kstock.market.store import MarketStore

    with MarketStore(root / "s.db") as store:
        panel = store.load_panel()
        commons = {t.code for t in store.tickers(kinds=["common"])}
    rows, cols = np.nonzero(panel.halted & ~panel.traded)
    for r, c in zip(rows, cols, strict=True):
        if panel.codes[r] in commons:
            return panel.codes[r], str(panel.dates[c])
    raise AssertionError("no halt in the synthetic market")


def _late_listed(root: Path) -> tuple[str, str]:
    from kstock.market.store import MarketStore

    with MarketStore(root / "s.db") as store:
        panel = store.load_panel()
        commons = {t.code for t in store.tickers(kinds=["common"]) if not t.delisting_date}
    for i, code in enumerate(panel.codes):
        traded = np.flatnonzero(panel.traded[i])
        if code in commons and traded[0] > 0:
            return code, str(panel.dates[traded[10]])
    raise AssertionError("no late listing in the synthetic market")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["analyze", "없는회사"], ["없는회사"]),
        (["analyze", "삼송전자"], ["삼성전자"]),  # a typo gets a suggestion
        (["analyze", "999999"], ["999999"]),
        (["analyze", "069500"], ["ETF"]),
        (["analyze", "005935"], ["우선주"]),
        # (a date that is no date — "soon", "nope" — is an argparse error of every flag: test_typed_dates.py)
        (["analyze", "삼성전자", "--date", "2025-06-28"], ["2025-06-28"]),  # a Saturday
        (["analyze", "삼성전자", "--date", "2019-01-02"], ["2019-01-02"]),  # before the data
        (["score", "--date", "2025-06-28"], ["2025-06-28"]),
        (["evaluate", "--folds", "0"], ["--folds"]),
        (["evaluate", "--model", "nonsense"], ["nonsense"]),
        (["tune", "trees", "--trials", "0"], ["--trials"]),
        (["tune", "trees", "--end", "1999-01-01"], ["--end"]),
    ],
)
def test_bad_input_is_one_clear_line(cli, args: list[str], needles: list[str]) -> None:
    assert_clean_error(*cli(*args), *needles)


def test_halted_stock_on_its_halt_day(cli) -> None:
    code, day = _halt(cli.root)
    assert_clean_error(*cli("analyze", code, "--date", day), code, day)


def test_too_little_history(cli) -> None:
    code, day = _late_listed(cli.root)
    assert_clean_error(*cli("analyze", code, "--date", day), code, "최소")


def test_no_trained_model_yet(cli) -> None:
    import shutil

    shutil.rmtree(cli.root / "models")
    assert_clean_error(*cli("analyze", "삼성전자"), "학습된 모델", "kstock train trees")
    rc, out, _ = cli("models", "--json")
    assert rc == 0
    trees = next(r for r in json.loads(out) if r["name"] == "trees")
    assert trees["available"] is False and "아직 학습되지 않음" in trees["reason"]


def test_corrupt_model_is_unavailable_not_a_crash(cli) -> None:
    version = next(p for p in (cli.root / "models" / "trees").iterdir() if p.is_dir() and p.name[0] != ".")
    data = (version / "lgb_rank.txt").read_bytes()
    (version / "lgb_rank.txt").write_bytes(data[: len(data) // 2])
    assert_clean_error(*cli("analyze", "삼성전자"), "학습된 모델")
    rc, out, _ = cli("models")
    assert rc == 0 and "사용 불가" in out


def test_errors_in_a_real_process(tmp_path: Path) -> None:
    """The installed entry point: exit status 1 and one line, never a traceback."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src"), "KSTOCK_DB": str(tmp_path / "empty.db"),
           "KSTOCK_MODEL_DIR": str(tmp_path / "models"), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "kstock", "analyze", "삼성전자"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stderr.startswith("kstock: 오류: ")


# -- models / train / score / signals ----------------------------------------------------------------------
def test_models_json(cli) -> None:
    rc, out, err = cli("models", "--json")
    assert rc == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    trees = rows["trees"]
    assert trees["available"] is True and trees["reason"] is None
    assert trees["versions_on_disk"] == [trees["version"]]
    assert trees["data_range"] == ["2024-01-02", "2025-06-30"]
    assert np.isfinite(trees["validation"]["rank_ic_mean"])
    rc, out, _ = cli("models")
    assert rc == 0 and trees["version"] in out


def test_train_goes_through_the_gate(cli) -> None:
    rc, out, err = cli("train", "trees")
    assert rc == 0, err
    assert out.startswith("trees: ") and ("교체됨" in out or "유지" in out)
    assert "학습 기간" in err  # progress goes to stderr


def test_score_then_signals(cli) -> None:
    rc, out, err = assert_no_signals_yet(cli)
    rc, out, err = cli("score")
    assert rc == 0, err
    assert "종목 채점" in out and "2025-06-30" in out and "trees" in out
    scored = out
    rc, out, err = cli("signals", "--json", "--top", "3")
    assert rc == 0, err
    payload = json.loads(out)
    assert payload["date"] == "2025-06-30"
    assert len(payload["buys"]) == 3 and len(payload["sells"]) == 3 and payload["stale"] is False
    assert [s["rank"] for s in payload["buys"]] == [1, 2, 3]  # the book, best first
    buy_scores = [s["score"] for s in payload["buys"]]
    assert buy_scores == sorted(buy_scores, reverse=True)
    assert min(buy_scores) > max(s["score"] for s in payload["sells"])  # the weakest names are the SELL warnings
    assert all(s["close"] > 0 and s["traded_value_20d"] >= 1e9 for s in payload["buys"])
    rc, out, _ = cli("signals", "--top", "5")
    assert rc == 0 and "매수 바스켓" in out
    assert scored.split("\n", 1)[1] == out  # `score` prints the stored book whole, as `signals` does
    # an earlier day can be scored too, and signals of it read back
    rc, out, err = cli("score", "--date", "2025-05-30")
    assert rc == 0, err
    assert "지난 거래일이라 저장만 하고 발행하지 않았습니다" in out  # nobody received that day's book then
    rc, out, _ = cli("signals", "--date", "2025-05-30", "--json")
    assert json.loads(out)["buys"]


def assert_no_signals_yet(cli):
    result = cli("signals")
    assert_clean_error(*result, "채점된 신호가 없습니다")
    return result


# -- evaluate ----------------------------------------------------------------------------------------------------
def test_evaluate_writes_the_documented_json(cli, tmp_path: Path) -> None:
    report_file = tmp_path / "reports" / "eval.json"
    chart = tmp_path / "deciles.png"
    rc, out, err = cli("evaluate", "--model", "trees", "--folds", "2", "--json", str(report_file),
                       "--chart", str(chart))
    assert rc == 0, err
    report = json.loads(report_file.read_text())
    trees = report["models"]["trees"]
    bands = trees["calibration"]["bands"]  # what each out-of-sample score decile meant
    assert len(bands) == 10 and sum(b["n"] for b in bands) > 1_000
    assert trees["calibration"]["source"]["kind"] == "walk_forward"
    assert "| D10 |" in out and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for key in ("auc", "accuracy", "rank_ic_mean", "rank_ic_ir", "ic_mean", "top_decile_hit"):
        assert isinstance(trees[key], float) and np.isfinite(trees[key]), key
    assert set(trees["backtest"]) >= {"cagr", "sharpe", "max_drawdown", "turnover"}
    costs = {"turnover", "cost_paid_per_year", "cagr_before_costs"}  # what each book paid, visible
    assert costs <= set(trees["backtest"]) and costs <= set(trees["followable"])
    assert trees["followable"]["turnover"] <= 1 / 5  # a tranche (a fifth of the book) a day at most
    assert trees["backtest"]["cagr_before_costs"] >= trees["backtest"]["cagr"]
    assert "| trees, 따라 하기 |" in out and "| trees, 매일 상위 K |" in out
    assert len(trees["folds"]) == 2
    for name in ("momentum20", "reversal5", "lowvol20", "kospi"):
        assert "backtest" in report["baselines"][name], name
    for name in ("momentum20", "reversal5", "lowvol20"):
        assert np.isfinite(report["baselines"][name]["rank_ic_mean"])
    folds = report["folds"]
    assert len(folds) == 2
    for fold in folds:
        assert set(fold) == {"train_start", "train_end", "test_start", "test_end"}
        assert fold["train_end"] < fold["test_start"] <= fold["test_end"]
    assert folds[0]["test_end"] < folds[1]["test_start"]
    assert folds[-1]["test_end"] == "2025-06-30"
    assert report["settings"]["embargo_days"] >= report["settings"]["label_horizon"]
    # the table on stdout
    assert "| trees |" in out and "기준선: momentum20" in out and "검증 구간 2개" in out


def test_evaluate_ensemble_weights_members_on_earlier_folds(cli, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tree members stand in for the deep ones (fast, no torch): weights sum to 1, the like-for-like
    comparison on the later folds is reported, and the weights are stored for serving."""
    for kind in list(model_kinds.KINDS):
        if kind != "trees":  # the fast trees the fixture installed
            monkeypatch.delitem(model_kinds.KINDS, kind)
    monkeypatch.setitem(model_kinds.KINDS, "rival", model_kinds.Kind("support.models:RivalTrees", "경쟁 트리", 0.0))
    report_file = tmp_path / "eval.json"
    rc, out, err = cli("evaluate", "--model", "ensemble", "--folds", "3", "--start", "2024-10-01",
                       "--json", str(report_file))
    assert rc == 0, err
    assert "(앞 구간에서 정한 ensemble 가중치): " in out and "ensemble 0." in out
    assert "1번 구간의 가중치는 준비 구간" in out
    report = json.loads(report_file.read_text())
    ensemble = report["models"]["ensemble"]
    assert report["ensemble_warmup"]["test_end"] < report["folds"][0]["test_start"]  # fold 1 weighed before it
    assert set(ensemble["weights"]) == {"trees", "rival"} and sum(ensemble["weights"].values()) == pytest.approx(1)
    later = ensemble["weighted_folds"]
    assert set(later["rank_ic_mean"]) == {"trees", "rival", "ensemble"}
    assert all(np.isfinite(v) for v in later["rank_ic_mean"].values())
    assert later["test_start"] == report["folds"][1]["test_start"]
    diversity = ensemble["diversity"]  # does the rival rank differently, and does the blend gain over the trees?
    rival = diversity["members"]["rival"]
    assert len(rival["folds"]) == 3 and all(-1 <= v <= 1 for v in rival["folds"])
    ics = diversity["next_open_rank_ic"]["folds"]
    assert diversity["gain_over_trees"]["folds"] == pytest.approx([f["ensemble"] - f["trees"] for f in ics], abs=1e-12)
    # the same statistic as every model's own "from the next open" column, fold by fold
    trees_folds = [f["rank_ic_next_open"] for f in report["models"]["trees"]["folds"]]
    assert [f["trees"] for f in ics] == pytest.approx(trees_folds, abs=1e-12)
    for name in ("trees", "ensemble"):  # over all test days, the models' own column
        expected = report["models"][name]["rank_ic_next_open"]
        assert diversity["next_open_rank_ic"][name] == pytest.approx(expected, abs=1e-12)
    assert "순위 IC (다음 날 시가 매수)" in out
    assert "rival: 트리 점수와의 일별 순위 상관" in out and "다음 날 시가 매수 기준 순위 IC: ensemble" in out
    from kstock.ml.registry import ModelRegistry

    served = ModelRegistry(cli.root / "models").current("ensemble")  # what predict_day combines with
    assert served is not None and served.meta["weights"] == ensemble["weights"]
    assert served.meta["calibration"] == ensemble["calibration"]  # the served headline reads the ensemble's table
    assert ensemble["calibration"]["source"]["model"] == "ensemble"
    record = served.meta["ic_record"]  # the walk-forward's daily next-open Rank IC: the live IC's yardstick
    assert record["kind"] == "walk-forward" and len(record["rank_ic"]) == len(record["dates"]) >= 40
    assert record["dates"][0] >= report["folds"][0]["test_start"] and all(-1 <= v <= 1 for v in record["rank_ic"])


def test_evaluate_holds_a_three_class_call_against_always_hold(cli, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A kind with three-class probabilities (the sector model's kind of output) is scored against answering
    HOLD every time — overall and on every fold — so a call that cannot beat it is seen to be none."""
    monkeypatch.setitem(model_kinds.KINDS, "classy", model_kinds.Kind("support.models:ClassTrees", "3분류 트리", 0.0))
    report_file = tmp_path / "eval.json"
    rc, out, err = cli("evaluate", "--model", "classy", "--folds", "2", "--json", str(report_file))
    assert rc == 0, err
    classy = json.loads(report_file.read_text())["models"]["classy"]
    folds = classy["folds"]
    assert len(folds) == 2 and all(0 < f["hold_baseline_accuracy"] < 1 and 0 <= f["accuracy_3class"] <= 1
                                   for f in folds)
    low, high = sorted(f["hold_baseline_accuracy"] for f in folds)
    assert low <= classy["hold_baseline_accuracy"] <= high  # the folds' days together
    accuracy, hold = classy["accuracy_3class"], classy["hold_baseline_accuracy"]
    assert f"classy: 3분류 정확도 {accuracy:.3f} (늘 HOLD {hold:.3f})" in out
    assert "구간별 정확도:늘 HOLD" in out
    assert classy["accuracy_3class_argmax"] == pytest.approx(accuracy, abs=1e-12)  # no decision: the argmax
    assert 0 <= classy["call_share"] <= 1


def test_evaluate_scores_a_kinds_own_decision_not_its_argmax(cli, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """When a kind gives its decision (the sector model's offsets), that is the call held against always-HOLD;
    the plain argmax is reported beside it. A decision that is HOLD everywhere scores exactly always-HOLD."""
    monkeypatch.setitem(model_kinds.KINDS, "holding",
                        model_kinds.Kind("support.models:HoldingClassTrees", "관망 트리", 0.0))
    report_file = tmp_path / "eval.json"
    rc, out, err = cli("evaluate", "--model", "holding", "--folds", "2", "--json", str(report_file))
    assert rc == 0, err
    holding = json.loads(report_file.read_text())["models"]["holding"]
    assert holding["accuracy_3class"] == pytest.approx(holding["hold_baseline_accuracy"], abs=1e-12)
    assert holding["call_share"] == 0
    for fold in holding["folds"]:
        assert fold["accuracy_3class"] == pytest.approx(fold["hold_baseline_accuracy"], abs=1e-12)
    assert holding["accuracy_3class_argmax"] != pytest.approx(holding["accuracy_3class"], abs=1e-6)
    assert "매수·매도 판단 비율 0.000" in out


# -- tune -----------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_tune_resumes_the_study_and_writes_params(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    optuna = pytest.importorskip("optuna")
    from kstock.ml.trees import tuning

    real_suggest = tuning.suggest_params
    # keep the real search space (so the study records real parameters) but train quickly
    monkeypatch.setattr(tuning, "suggest_params",
                        lambda trial: dataclasses.replace(real_suggest(trial), n_estimators=FAST_TREES["n_estimators"]))
    monkeypatch.setattr(tuning, "TreePredictor", functools.partial(TreePredictor, n_jobs=1))
    storage = f"sqlite:///{cli.root / 'optuna' / 'study.db'}"
    (cli.root / "optuna").mkdir()
    for _ in range(2):
        rc, out, err = cli("tune", "trees", "--trials", "2", "--storage", storage, "--end", "2025-03-31")
        assert rc == 0, err
        assert "가장 좋은 순위 IC" in out
    study = optuna.load_study(study_name="kstock-trees", storage=storage)
    assert len(study.trials) == 4
    written = json.loads((cli.root / "models" / "tuned" / "trees.json").read_text())
    assert written["trials"] == 4 and written["storage"] == storage and written["tuned_until"] == "2025-03-31"
    assert written["params"]["num_leaves"] == study.best_params["num_leaves"]
    # `kstock train trees` (and every tree factory) now starts from the tuned parameters
    from kstock.config import Settings

    settings = Settings.from_env().with_overrides(model_dir=cli.root / "models")
    model = TreePredictor.create(settings, n_jobs=1)  # the real kind (the fixture swapped in a fast one)
    assert model.params.num_leaves == study.best_params["num_leaves"]


def test_an_empty_store_is_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KSTOCK_DB", str(tmp_path / "empty.db"))
    monkeypatch.setenv("KSTOCK_MODEL_DIR", str(tmp_path / "models"))
    for argv in (["evaluate", "--folds", "2"], ["score"], ["tune", "trees", "--trials", "1"], ["train", "trees"]):
        rc = main(argv)
        out, err = capsys.readouterr()
        assert_clean_error(rc, out, err, "kstock data synth")
    assert not (tmp_path / "empty.db").exists()  # a store that does not exist is refused, not created empty
    (tmp_path / "empty.db").touch()  # an existing but empty store: training says what to do
    rc = main(["train", "trees"])
    out, err = capsys.readouterr()
    assert rc == 1 and "Traceback" not in out + err
    assert out.startswith("trees: 실패") and "kstock data synth" in out
