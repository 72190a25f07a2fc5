"""`kstock train|tune|evaluate|analyze|models`: thin wrappers over the service layer."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kstock.cli import Context, command, date_arg, print_json
from kstock.errors import KstockError
from kstock.ml import distributed
from kstock.ml.models import KINDS, retrain_kinds


def register(sub: argparse._SubParsersAction) -> None:
    p = command(sub, "train", cmd_train, "저장된 모든 데이터로 모델을 학습하고 검증을 통과하면 교체",
                "마지막 저장 거래일까지의 데이터로 학습하고 (마지막 60일은 검증용으로 떼어 둠), 레지스트리 "
                "관문을 거쳐 승격합니다: 더 나쁜 모델은 서비스 중인 모델을 절대 대신하지 않습니다.")
    p.add_argument("model", help=f"{', '.join(train_choices()[:-1])} 또는 all")
    p.add_argument("--epochs", type=int, help="딥러닝 모델: 최대 에포크 수")
    p.add_argument("--phase", choices=["1", "2", "3", "all"], help="업종 모델: 학습할 단계")
    p.add_argument("--resume", action="store_true", help="업종 모델: 마지막 체크포인트에서 이어서 학습")

    p = command(sub, "tune", cmd_tune, "학습 기간 안에서 Optuna로 트리 모델 하이퍼파라미터 튜닝",
                "Optuna study를 RDB 저장소(기본은 SQLite)에 두어 중단된 튜닝을 이어 하고 "
                "여러 워커가 함께 쓸 수 있습니다.")
    p.add_argument("model", choices=["trees"], help="튜닝할 모델")
    p.add_argument("--trials", type=int, default=20, help="study에 더할 시도 횟수 (기본값 20)")
    p.add_argument("--end", type=date_arg, help="튜닝이 볼 수 있는 마지막 날 (평가의 --start에 맞추세요)")
    p.add_argument("--storage", help="Optuna 저장소 URL (기본값 sqlite:///<모델 폴더>/optuna.db)")
    p.add_argument("--study", default="kstock-trees", help="study 이름 (기본값 kstock-trees)")

    p = command(sub, "evaluate", cmd_evaluate, "단순 기준 전략과 비교하는 워크포워드 평가",
                "날짜 기준 워크포워드 구간(엠바고 포함)으로 평가합니다: AUC, 정확도, IC, Rank IC, 상위 10% "
                "적중률, KRX 비용을 뺀 상위 k 종목 백테스트를 모멘텀, 반전, 저변동성, 코스피, 전 종목 동일가중과 "
                "나란히 보여 줍니다.")
    p.add_argument("--model", default="trees", help=f"{', '.join(KINDS)}, ensemble 또는 all (쉼표로 여러 개 가능)")
    p.add_argument("--start", type=date_arg, help="평가 첫날 (YYYY-MM-DD 또는 YYYYMMDD)")
    p.add_argument("--end", type=date_arg, help="평가 마지막 날")
    p.add_argument("--folds", type=int, default=4, help="워크포워드 구간 수 (기본값 4)")
    p.add_argument("--json", type=Path, metavar="FILE", help="전체 보고서를 JSON으로 저장")
    p.add_argument("--shuffle-check", action="store_true", help="라벨을 섞어서도 학습해 봄 (결과가 ≈ 0이어야 정상)")
    p.add_argument("--chart", type=Path, metavar="FILE", help="점수 10분위별 평균 초과수익률 그래프 (PNG)")
    p.add_argument("--epochs", type=int, help="딥러닝 모델: 구간마다 에포크 수")

    p = command(sub, "analyze", cmd_analyze, "한 종목의 BUY/HOLD/SELL 판단과 근거",
                "종목코드나 종목명으로 판단, 확률, 근거, 모델 버전, 데이터 기준일을 보여 줍니다.")
    p.add_argument("query", help="종목코드 (005930) 또는 종목명 (삼성전자)")
    p.add_argument("--date", type=date_arg, help="이 저장 거래일 기준으로 분석 (기본값: 마지막 거래일)")
    p.add_argument("--json", action="store_true", help="JSON 출력 (프로그램용)")
    p.add_argument("--chart", type=Path, metavar="FILE", help="봇이 보내는 차트를 PNG로 저장")

    p = command(sub, "models", cmd_models, "서비스 중인 모델, 학습 후 경과일, 검증 지표 목록",
                aliases=("model",))  # the bot says /model
    p.add_argument("--json", action="store_true", help="JSON 출력 (프로그램용)")



def train_choices() -> list[str]:
    """What ``kstock train`` takes: each kind the kinds table lets retrain, then ``all``."""
    return [*retrain_kinds(), "all"]


def _services(ctx: Context, *, write: bool = True):
    """Services over the store: read-only commands open it read-only and touch no run record; writing
    ones first mark the runs of processes that are gone as interrupted (never a live one)."""
    from kstock.service import runs
    from kstock.service.context import Services

    if not write:
        return Services(ctx.settings, ctx.read_store)
    services = Services(ctx.settings, ctx.store)
    runs.mark_interrupted(ctx.store)
    return services


def _model_options(args: argparse.Namespace) -> dict:
    options = {}
    if getattr(args, "epochs", None):
        options["epochs"] = args.epochs
    if getattr(args, "phase", None):
        options["phase"] = args.phase
    if getattr(args, "resume", False):
        options["resume"] = True
    return options


def cmd_train(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.config import check_model_dir
    from kstock.ml.metric_names import metric_line
    from kstock.ml.models import known_kinds
    from kstock.service.retrain import retrain

    check_model_dir(ctx.settings)  # an unwritable KSTOCK_MODEL_DIR is refused before an hour of training
    services = _services(ctx)
    names = [k for k in known_kinds() if k in retrain_kinds()] if args.model == "all" else [args.model]
    if len(names) > 1 and distributed.world_rank()[0] > 1:
        names.sort(key=lambda n: not _trains_distributed(n))  # under torchrun the ranks meet first, not after
    failed = False
    for name in names:
        result = retrain(services, name, progress=lambda msg: print(msg, file=sys.stderr), **_model_options(args))
        metrics = ", ".join(metric_line(k, v) for k, v in result.metrics.items() if isinstance(v, float))
        print(f"{name}: {_STATUS_KO.get(result.status, result.status)} — {result.reason}"
              + (f" [{metrics}]" if metrics else ""))
        failed |= result.status == "failed"
    return 1 if failed else 0


def _trains_distributed(name: str) -> bool:
    """Whether every rank of a ``torchrun`` job trains this kind (others are left to rank 0)."""
    from kstock.ml.models import model_class

    try:
        return bool(getattr(model_class(name), "trains_distributed", False))
    except KstockError:  # unavailable here (no torch): it fails on its own when trained
        return False
_STATUS_KO = {"promoted": "교체됨", "kept": "유지", "failed": "실패"}


def cmd_tune(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.ml.trees.tuning import tune_trees

    services = _services(ctx)
    if args.trials < 1:
        raise KstockError("`--trials`는 1 이상이어야 합니다")
    storage = args.storage or f"sqlite:///{Path(ctx.settings.model_dir).resolve() / 'optuna.db'}"
    Path(ctx.settings.model_dir).mkdir(parents=True, exist_ok=True)
    out = tune_trees(services.training_data(), trials=args.trials, end=args.end, storage=storage,
                     study_name=args.study, model_dir=ctx.settings.model_dir, embargo=ctx.settings.label_horizon,
                     progress=lambda m: print(m, file=sys.stderr))
    print(f"시도 {out['trials']}번 중 가장 좋은 순위 IC {out['rank_ic']:.4f} → `{out['params']}`")
    return 0


def cmd_evaluate(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.service.evaluate import evaluate

    for path, option in ((args.json, "--json"), (args.chart, "--chart")):
        if path is not None:  # before the walk-forward: a bad path is refused at once, not after an hour
            check_output_file(path, option, make_parents=True)
    services = _services(ctx)
    models = [m.strip() for m in args.model.split(",") if m.strip()]
    options = {m: _model_options(args) for m, kind in KINDS.items() if kind.needs_torch}  # the deep kinds
    report = evaluate(services, models, start=args.start, end=args.end, n_folds=args.folds,
                      shuffle_check=args.shuffle_check, progress=lambda m: print(m, file=sys.stderr),
                      options=options)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=_jsonable))
    if args.chart:
        from kstock.charts.deciles import save_decile_chart

        save_decile_chart(args.chart, report)
    print(evaluation_table(report))
    return 0


def _jsonable(obj: object) -> object:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def evaluation_table(report: dict) -> str:
    """Markdown table of the headline numbers (models, then baselines)."""
    head = ("| | AUC | 순위 IC | 순위 IC (다음 날 종가부터) | 순위 IC (다음 날 시가 매수) | ICIR | 상위 10% 적중률 "
            "| CAGR | 샤프 | MDD | 회전율 |\n|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    entries = [(name, m) for name, m in report["models"].items()] + \
              [(f"기준선: {name}", m) for name, m in report.get("baselines", {}).items()]
    for name, m in entries:
        bt = m.get("backtest", {})
        rows.append("| " + " | ".join([
            name, _fmt(m.get("auc")), _fmt(m.get("rank_ic_mean"), 4), _fmt(m.get("rank_ic_tradeable_mean"), 4),
            _fmt(m.get("rank_ic_next_open"), 4),
            _fmt(m.get("rank_ic_ir"), 2), _fmt(m.get("top_decile_hit")), _pct(bt.get("cagr")),
            _fmt(bt.get("sharpe"), 2), _pct(bt.get("max_drawdown")), _fmt(bt.get("turnover")),
        ]) + " |")
    folds = report.get("folds", [])
    if folds:
        rows.append(f"\n검증 구간 {len(folds)}개, 시험 기간 {folds[0]['test_start']} … {folds[-1]['test_end']}")
    warm = report.get("ensemble_warmup")
    if warm:
        rows.append(f"ensemble: 1번 구간의 가중치는 준비 구간(시험 {warm['test_start']} … {warm['test_end']})에서 정함")
    later = report["models"].get("ensemble", {}).get("weighted_folds")
    if later:  # from fold 2 on the weights rest on at least one whole fold
        ics = ", ".join(f"{name} {ic:.4f}" for name, ic in later["rank_ic_mean"].items())
        rows.append(f"{later['test_start']}부터의 순위 IC (앞 구간에서 정한 ensemble 가중치): {ics}")
    rows += _diversity_lines(report["models"].get("ensemble", {}).get("diversity"))
    rows += _three_class_lines(report["models"])
    for name, why in report.get("unavailable", {}).items():
        rows.append(f"{name}: {why}")
    if "checks" in report:
        rows.append(f"정답을 섞어 학습한 순위 IC: {report['checks']['shuffled_label_rank_ic']:.4f} (≈ 0이어야 함)")
    rows += _books_table(entries)
    rows += _decile_tables(report)
    return "\n".join(rows)


def _diversity_lines(diversity: dict | None) -> list[str]:
    """Each member's daily rank correlation with the trees, and the ensemble's gain over them, per fold."""
    if not diversity:
        return []
    rows = []
    for name, m in diversity["members"].items():
        folds = " / ".join(_fmt(v, 2) for v in m["folds"])
        rows.append(f"{name}: 트리 점수와의 일별 순위 상관 {_fmt(m['corr_with_trees'], 2)} "
                    f"(구간별 {folds}; 1이면 새 정보 없음)")
    ic, gain = diversity["next_open_rank_ic"], diversity["gain_over_trees"]
    folds = " / ".join(f"{v:+.4f}" for v in gain["folds"])
    rows.append(f"다음 날 시가 매수 기준 순위 IC: ensemble {_fmt(ic['ensemble'], 4)}, trees {_fmt(ic['trees'], 4)} "
                f"(차이 {gain['mean']:+.4f}, 구간별 {folds})")
    return rows


def _three_class_lines(models: dict) -> list[str]:
    """A three-class call's accuracy beside always-HOLD's, overall and per fold (below it: not a call)."""
    rows = []
    for name, m in models.items():
        if "accuracy_3class" not in m:
            continue
        folds = " / ".join(f"{_fmt(f.get('accuracy_3class'))}:{_fmt(f.get('hold_baseline_accuracy'))}"
                           for f in m.get("folds", []))
        hold = _fmt(m.get("hold_baseline_accuracy"))
        rows.append(f"{name}: 3분류 정확도 {_fmt(m['accuracy_3class'])} (늘 HOLD {hold}), "
                    f"macro-F1 {_fmt(m.get('macro_f1'))} (늘 HOLD {_fmt(m.get('hold_baseline_macro_f1'))}); "
                    f"구간별 정확도:늘 HOLD {folds}; 매수·매도 판단 비율 {_fmt(m.get('call_share'))}, "
                    f"보정 전(argmax) 정확도 {_fmt(m.get('accuracy_3class_argmax'))}")
    return rows


def _books_table(entries: list[tuple[str, dict]]) -> list[str]:
    """Each book net and before costs, with what the costs took: the daily top-K and the followable book."""
    rows = ["", "| 포트폴리오 | CAGR | 비용 전 CAGR | 연간 비용 | 샤프 | MDD | 하루 회전율 |",
            "|---|---|---|---|---|---|---|"]
    for name, m in entries:
        for book, label in (("backtest", "매일 상위 K"), ("followable", "따라 하기")):
            bt = m.get(book)
            if not bt or "cagr_before_costs" not in bt:
                continue
            rows.append(f"| {name}, {label} | {_pct(bt.get('cagr'))} | {_pct(bt.get('cagr_before_costs'))} | "
                        f"{_pct(bt.get('cost_paid_per_year'))} | {_fmt(bt.get('sharpe'), 2)} | "
                        f"{_pct(bt.get('max_drawdown'))} | {_fmt(bt.get('turnover'))} |")
    return rows if len(rows) > 3 else []


def _decile_tables(report: dict) -> list[str]:
    """Each model's out-of-sample band table: what the headline of a call in that decile will say."""
    from kstock.ml.evaluation.calibration import markdown, tables_of

    return [markdown(t, f"\n{name}: 점수 10분위별, 매수 가능 종목 동일가중 평균 대비 초과수익")
            for name, t in tables_of(report).items()]


def _fmt(value: object, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) and value == value else "-"


def _pct(value: object) -> str:
    return f"{value * 100:.1f}%" if isinstance(value, int | float) and value == value else "-"


def cmd_analyze(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.service.analyze import analyze
    from kstock.service.presenters import format_analysis

    if args.chart is not None:
        check_output_file(args.chart, "--chart")  # before the work: a bad path is refused at once
    services = _services(ctx, write=False)
    analysis = analyze(services, args.query, date=args.date, chart=args.chart is not None)
    if analysis.chart is not None:
        from kstock.charts.analysis import draw_analysis

        write_output_file(args.chart, draw_analysis(analysis.chart), "--chart")
    if args.json:
        print_json({"code": analysis.ticker.code, "name": analysis.ticker.name, "close": analysis.close,
                    **analysis.result.as_dict(), "chart": str(args.chart) if args.chart else None,
                    "headline": analysis.headline.as_dict() if analysis.headline else None})
    else:
        print(format_analysis(analysis))
        if args.chart:
            print(f"차트: {args.chart}")
    return 0


def check_output_file(path: Path, option: str, *, make_parents: bool = False) -> None:
    """A file the command will write, checked before the work (an hour of evaluation is not lost to a typo at
    the end): not a folder, in a folder that exists (``make_parents``: created now, as the command would), and
    writable — tried by opening it to append, which changes nothing; a file the try created is removed."""
    if path.is_dir():
        raise KstockError(f"`{option}` {path}: 폴더입니다; {path / 'chart.png'} 같은 파일 이름을 주세요")
    if make_parents:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KstockError(f"`{option}` {path}: 폴더 {path.parent}를 만들 수 없습니다 "
                              f"({exc.strerror or exc})") from None
    if not path.parent.is_dir():
        raise KstockError(f"`{option}` {path}: 폴더 {path.parent}이(가) 없습니다; 먼저 만드세요")
    existed = path.exists()
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise KstockError(f"`{option}` {path}: 파일을 쓸 수 없습니다 ({exc.strerror or exc}). "
                          "쓸 수 있는 경로를 지정해 주세요.") from None
    if not existed:
        path.unlink(missing_ok=True)


def write_output_file(path: Path, data: bytes, option: str) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise KstockError(f"`{option}` {path}: 파일을 쓸 수 없습니다 ({exc.strerror or exc})") from None


def cmd_models(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.service.presenters import format_models
    from kstock.service.status import models_status

    rows = models_status(_services(ctx, write=False))
    if args.json:
        print_json(rows)
    else:
        print(format_models(rows))
    return 0
