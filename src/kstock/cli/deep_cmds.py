"""`kstock validate sector`: the sector model's validation report, always through the sector heads.

(``kstock train sector [--phase 1|2|3|all] [--resume]`` is the generic train command calling
:func:`kstock.ml.sector.predictor.train_sector`.)
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kstock.cli import Context, command, date_arg, print_json
from kstock.errors import KstockError


def register(sub: argparse._SubParsersAction) -> None:
    p = command(
        sub, "validate", cmd_validate, "딥러닝 모델 검증 보고서 (loss, 정확도, HOLD 대비 macro-F1)",
        "학습된 업종 모델을 검증 기간(또는 --start/--end)으로 평가합니다: loss, 정확도, 클래스별 정확도, "
        "macro-F1, 그리고 모두 HOLD로 답하는 기준선. 모든 표본은 실제 서비스와 똑같이 자기 업종의 "
        "헤드를 거칩니다.",
    )
    p.add_argument("model", choices=("sector",), help="검증할 모델 (sector)")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="학습 체크포인트(phaseN_final.pt / phaseN_epochNNN.pt) 또는 저장된 모델 폴더 "
                        "(기본값: 레지스트리의 서비스 중인 모델, 없으면 가장 최근 체크포인트)")
    p.add_argument("--start", type=date_arg, help="검증 첫날 (기본값: 모델 자체의 검증 기간)")
    p.add_argument("--end", type=date_arg, help="검증 마지막 날")
    p.add_argument("--max-samples", type=int, default=20_000, help="무작위로 뽑을 표본 수 (기본값 20000)")
    p.add_argument("--json", action="store_true", help="JSON 출력 (프로그램용)")


def cmd_validate(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.ml.models import unavailable_reason

    reason = unavailable_reason(args.model)
    if reason:
        raise KstockError(f"{args.model}: {reason}")
    if args.max_samples < 1:
        raise KstockError("`--max-samples`는 1 이상이어야 합니다")
    from kstock.ml.data import prepare_model_data
    from kstock.ml.sector.predictor import validate_sector

    predictor, origin = _load_predictor(args.checkpoint, ctx)
    data = prepare_model_data(ctx.store, ctx.settings)
    result = validate_sector(data, predictor, args.start, args.end, max_samples=args.max_samples)
    result["model"] = origin
    if args.json:
        print_json(result)
    else:
        print(format_report(result))
    return 0


def _load_predictor(checkpoint: Path | None, ctx: Context) -> tuple[Any, str]:
    from kstock.ml.registry import ModelRegistry
    from kstock.ml.sector.checkpoints import list_checkpoints
    from kstock.ml.sector.predictor import SectorPredictor, default_checkpoint_dir

    settings = ctx.settings
    if checkpoint is not None:
        if checkpoint.is_dir():
            return _guarded(lambda: SectorPredictor.load(checkpoint, settings), checkpoint), str(checkpoint)
        if not checkpoint.exists():
            raise KstockError(f"체크포인트 {checkpoint}이(가) 없습니다")
        return SectorPredictor.from_checkpoint(checkpoint, settings), str(checkpoint)
    version = ModelRegistry(settings.model_dir).current("sector")
    if version is not None:
        return _guarded(lambda: SectorPredictor.load(version.path, settings), version.path), \
            f"sector {version.version} (serving)"
    found = list_checkpoints(default_checkpoint_dir(settings))
    if found:
        return SectorPredictor.from_checkpoint(found[-1][2], settings), str(found[-1][2])
    raise KstockError(f"{settings.model_dir}에 학습된 섹터 모델이 없습니다; `kstock train sector`로 학습하거나 "
                      "`--checkpoint FILE`을 주세요")


def _guarded(load: Any, where: Path) -> Any:
    try:
        return load()
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise KstockError(f"{where}의 섹터 모델을 불러올 수 없습니다: {exc}") from exc


def format_report(r: dict[str, Any]) -> str:
    classes = r.get("classes", ["SELL", "HOLD", "BUY"])
    per_class = "  ".join(f"{name} {_pct(acc)}" for name, acc in zip(classes, r["per_class_accuracy"], strict=True))
    share = r.get("sector_head_share", float("nan"))
    lines = [
        f"섹터 모델      `{r['model']}`",
        f"검증           {r['start']} → {r['end']}, 표본 {r['n']:,}개 — 섹터 헤드가 답한 비율 {_pct(share)} "
        "(나머지는 공통 헤드: 업종을 모르거나 학습 표본이 적은 종목)",
        f"손실           {r['loss']:.4f} (focal 손실, 클래스 가중)",
        f"정확도         {_pct(r['accuracy'])}   (늘 HOLD라고 답할 때: {_pct(r['hold_baseline_accuracy'])})",
        f"macro-F1       {r['macro_f1']:.3f}    (늘 HOLD 기준선: {r['hold_baseline_macro_f1']:.3f})",
        f"클래스별 정확도 {per_class}",
    ]
    if "decision_accuracy" in r:  # the call /analyze shows: the most probable class after the stored offsets
        lines.append(f"3분류 판단     정확도 {_pct(r['decision_accuracy'])}, 매수·매도라고 답한 비율 "
                     f"{_pct(r['decision_call_share'])} (보정 후: /analyze에 보이는 판단)")
    return "\n".join(lines)


def _pct(x: float) -> str:
    return "-" if x != x else f"{100 * x:.1f} %"
