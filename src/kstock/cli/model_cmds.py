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
    p = command(sub, "train", cmd_train, "train a model on all stored data and swap it in if it validates",
                "Train on data up to the last stored trading day (the last 60 days held out for validation), "
                "then promote through the registry gate: a worse model never replaces the serving one.")
    p.add_argument("model", help=f"{', '.join(train_choices()[:-1])} or all")
    p.add_argument("--epochs", type=int, help="deep models: maximum epochs")
    p.add_argument("--phase", choices=["1", "2", "3", "all"], help="sector model: which training phase(s)")
    p.add_argument("--resume", action="store_true", help="sector model: continue from the last checkpoint")

    p = command(sub, "tune", cmd_tune, "tune tree hyperparameters with Optuna inside the training period",
                "Optuna study in an RDB storage (SQLite by default) so runs resume and workers can share it.")
    p.add_argument("model", choices=["trees"], help="the model to tune")
    p.add_argument("--trials", type=int, default=20, help="trials to add to the study (default 20)")
    p.add_argument("--end", type=date_arg, help="last day the tuning may see (set it to your evaluation --start)")
    p.add_argument("--storage", help="Optuna storage URL (default sqlite:///<model dir>/optuna.db)")
    p.add_argument("--study", default="kstock-trees", help="study name (default kstock-trees)")

    p = command(sub, "evaluate", cmd_evaluate, "walk-forward evaluation against simple baselines",
                "Walk-forward folds by date with an embargo; AUC, accuracy, IC, Rank IC, top-decile hit rate and "
                "a top-k backtest net of KRX costs beside momentum, reversal, low-volatility, KOSPI and the "
                "equal-weighted universe.")
    p.add_argument("--model", default="trees", help=f"{', '.join(KINDS)}, ensemble or all (comma-separated ok)")
    p.add_argument("--start", type=date_arg, help="first test day (YYYY-MM-DD or YYYYMMDD)")
    p.add_argument("--end", type=date_arg, help="last test day")
    p.add_argument("--folds", type=int, default=4, help="number of walk-forward folds (default 4)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the full report as JSON")
    p.add_argument("--shuffle-check", action="store_true", help="also train on shuffled labels (expect ≈ 0)")
    p.add_argument("--chart", type=Path, metavar="FILE", help="draw the mean excess return per score decile (PNG)")
    p.add_argument("--epochs", type=int, help="deep models: epochs per fold")

    p = command(sub, "analyze", cmd_analyze, "one ticker's BUY/HOLD/SELL call with reasons",
                "The call, probability, reasons, model versions and data date for a code or name.")
    p.add_argument("query", help="code (005930) or name (삼성전자)")
    p.add_argument("--date", type=date_arg, help="analyse as of this stored trading day (default: the last)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--chart", type=Path, metavar="FILE", help="write the chart PNG the bot sends")

    p = command(sub, "models", cmd_models, "list the serving models, their age and validation metrics",
                aliases=("model",))  # the bot says /model
    p.add_argument("--json", action="store_true", help="machine-readable output")



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
    head = ("| | AUC | 순위 IC | 순위 IC (다음 날 시가) | ICIR | 상위 10% 적중률 | CAGR | 샤프 | MDD | 회전율 |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    entries = [(name, m) for name, m in report["models"].items()] + \
              [(f"기준선: {name}", m) for name, m in report.get("baselines", {}).items()]
    for name, m in entries:
        bt = m.get("backtest", {})
        rows.append("| " + " | ".join([
            name, _fmt(m.get("auc")), _fmt(m.get("rank_ic_mean"), 4), _fmt(m.get("rank_ic_tradeable_mean"), 4),
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
    for name, why in report.get("unavailable", {}).items():
        rows.append(f"{name}: {why}")
    if "checks" in report:
        rows.append(f"정답을 섞어 학습한 순위 IC: {report['checks']['shuffled_label_rank_ic']:.4f} (≈ 0이어야 함)")
    rows += _books_table(entries)
    rows += _decile_tables(report)
    return "\n".join(rows)


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
