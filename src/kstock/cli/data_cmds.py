"""`kstock data …` and `kstock lookup`: filling the store and finding tickers in it."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from kstock.cli import Context, command, date_arg, print_json
from kstock.errors import KstockError


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="시장 데이터 저장소 채우기와 점검", description="저장소를 채우고 점검합니다.")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = command(data_sub, "import", cmd_import, "종목별 CSV 파일 폴더 가져오기 (pykrx 또는 FinanceDataReader 형식)",
                "종목마다 CSV 하나(파일 이름 = 종목코드)를 pykrx (날짜,시가,…) 또는 FinanceDataReader "
                "(Date,Open,…) 형식으로 가져옵니다. 잘못된 파일은 알리고 건너뛰며, 이미 저장된 데이터는 "
                "그대로 남습니다.")
    p.add_argument("directory", type=Path, help="종목마다 <종목코드>.csv 파일이 하나씩 든 폴더")
    p.add_argument("--tickers", type=Path, help="종목 목록 파일 (code,name,market[,ksic_industry,wics_*,…])")
    p.add_argument("--sectors", type=Path, help="업종 번호에 쓸 KRX 업종 파일 (종목코드,…,업종명)")
    p.add_argument("--index", action="append", default=[], metavar="NAME=FILE",
                   help="지수 시계열, 예: KOSPI=../shared/data/krx/index/kospi.csv (여러 번 줄 수 있음)")
    p.add_argument("--until", type=date_arg,
                   help="행이 가질 수 있는 마지막 날짜 (기본값: 오늘, KST); 이보다 늦은 행이 있으면 그 파일은 거부")
    p.add_argument("--no-progress", action="store_true", help="진행 막대를 숨깁니다")

    p = command(data_sub, "synth", cmd_synth, "내장된 KRX 모양의 합성 시장을 만들어 저장소에 넣기",
                "결정적인 합성 시장(종목코드, 종목명, 두 시장, 13개 업종, 거래정지, 가격제한폭, 호가단위, "
                "학습할 수 있는 구조)을 만들어 저장합니다.")
    p.add_argument("--tickers", type=int, default=100, help="종목 수 (기본값 100)")
    p.add_argument("--years", type=float, default=3.0, help="일별 데이터 기간, 년 (기본값 3)")
    p.add_argument("--seed", type=int, default=7, help="난수 시드 (기본값 7)")

    p = command(data_sub, "update", cmd_update, "KSTOCK_DATA_SOURCE (pykrx, csv, synthetic)에서 새 일별 데이터 받기",
                "설정된 소스(KSTOCK_DATA_SOURCE)에서 새 일별 데이터만 이어 받습니다: pykrx (수정주가 OHLCV와 "
                "코스피/코스닥 지수; 네트워크와 KRX 로그인 필요), csv (KSTOCK_CSV_DIR 폴더; 새 행만 기록) 또는 "
                "synthetic (다음 모의 거래일). 소스가 실패하면 저장소는 그대로 두고 저장된 데이터가 얼마나 "
                "오래됐는지 알려 줍니다.")
    p.add_argument("--codes", nargs="*", help="pykrx 전용: 이 종목코드만")
    p.add_argument("--end", type=date_arg, help="pykrx 전용: 받을 마지막 날짜 (기본값 오늘, KST)")

    p = command(data_sub, "prune", cmd_prune, "어떤 날 이후 날짜의 가격·지수 행 지우기 (예: 미래 날짜)",
                "--after 이후 날짜의 가격·지수 행을 한 트랜잭션으로 모두 지웁니다. --yes가 없으면 지울 행 수만 "
                "보여 주고 아무것도 바꾸지 않습니다.")
    p.add_argument("--after", required=True, type=date_arg,
                   help="이 날짜까지의 행은 남김 (YYYY-MM-DD 또는 YYYYMMDD; 처음 저장된 날보다 앞설 수 없음)")
    p.add_argument("--yes", action="store_true", help="실제로 지웁니다")

    p = command(data_sub, "status", cmd_status, "저장소에 무엇이 있는지 보기")
    p.add_argument("--json", action="store_true", help="JSON 출력 (프로그램용)")

    p = command(data_sub, "check", cmd_check, "저장소의 잘못된 행, 빠진 날, 뒤처진 시계열 목록",
                "저장소를 점검합니다: 행 규칙을 어긴 가격 행 하나하나와 그 이유 (KRX 거래일이 아님, 가격이 "
                "유한한 양수가 아니거나 1억 원 초과, 거래량이 0 … 1e12 밖, 저가 ≤ 시가/종가 ≤ 고가가 깨짐); "
                "불완전한 날 (거래 중인 종목의 KSTOCK_MIN_COVERAGE 미만만 행이 있는 날, 빠진 종목코드와 함께); "
                "가격보다 뒤처진 지수 시계열. 점검마다 건수를 보여 주고, 문제가 있으면 종료 코드 1, 깨끗하면 "
                "0입니다.")
    p.add_argument("--json", action="store_true", help='JSON 출력 (프로그램용): {"ok", "total", "sections": [...]}')

    p = command(sub, "lookup", cmd_lookup, "종목코드나 한글/영문 종목명으로 종목 찾기",
                "종목코드(005930)나 종목명(삼성전자, 삼성전자우, Samsung Electronics)으로 종목을 찾습니다. "
                "비슷하지만 맞지 않으면 후보를 알려 줍니다.")
    p.add_argument("query", help="종목코드 또는 종목명")
    p.add_argument("--json", action="store_true", help="JSON 출력 (프로그램용)")


def _parse_index_options(values: list[str]) -> dict[str, Path]:
    out = {}
    for item in values:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise KstockError(f"`--index` {item!r}: `이름=파일` 형식이어야 합니다 (예: `KOSPI=index/kospi.csv`)")
        out[name.strip().upper()] = Path(path.strip())
    return out


def _until(text: str | None) -> dt.date | None:
    """--until, already read by the strict date parser (ISO text), as a date."""
    return None if text is None else dt.date.fromisoformat(text)


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.market.csv_import import CsvImportError, import_directory

    try:
        report = import_directory(
            ctx.new_store, args.directory, tickers_file=args.tickers, sectors_file=args.sectors,
            index_files=_parse_index_options(args.index), progress=not args.no_progress, until=_until(args.until),
        )
    except CsvImportError as exc:  # every rejected file with its reason, then the one-line error (one bad file:
        if len(exc.bad_files) > 1:  # the error line names it already)
            for name, reason in exc.bad_files:
                print(f"건너뜀 {name}: {reason}", file=sys.stderr)
        raise
    print(f"파일 {report.files_ok}개, {report.rows_read:,}행을 읽어 {report.rows_changed:,}행을 쓰거나 바꿨습니다 "
          f"(종목 {report.tickers}개)")
    for name, n in report.index_rows.items():
        print(f"지수 {name}: {n:,}행")
    # diagnostics go to stderr, so stdout stays the summary of what was stored
    for warning in report.warnings:
        print(f"경고: {warning}", file=sys.stderr)
    for name, reason in report.bad_files:
        print(f"건너뜀 {name}: {reason}", file=sys.stderr)
    return 0 if report.files_ok else 1


def cmd_synth(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.market.sources import synthesize_store

    if not 25 <= args.tickers <= 5000:
        raise KstockError("`--tickers`는 25에서 5000 사이여야 합니다")
    if not 0.5 <= args.years <= 30:
        raise KstockError("`--years`는 0.5에서 30 사이여야 합니다")
    market, changed = synthesize_store(ctx.new_store, n_tickers=args.tickers, years=args.years, seed=args.seed)
    stored = ctx.new_store.summary()  # the prices went to the store a slice at a time
    print(f"합성 시장: 종목 {len(market.tickers)}개, {stored['rows']:,}행 (바뀐 행 {changed:,}개) "
          f"→ {ctx.settings.db_path}; 시장의 시계는 {stored['last_date']}에 있습니다 "
          "(`KSTOCK_DATA_SOURCE=synthetic`에서 `kstock data update`를 할 때마다 다음 거래일이 더해집니다)")
    return 0


def cmd_update(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.market.sources import source_from_settings

    settings = ctx.settings
    if (args.codes or args.end) and settings.data_source != "pykrx":
        raise KstockError(f"`--codes`와 `--end`는 `KSTOCK_DATA_SOURCE=pykrx`에서만 씁니다 "
                          f"(지금은 `{settings.data_source}`)")
    from kstock.service.loop_lock import loop_lock

    store = ctx.new_store
    with loop_lock(store.path):  # never beside a daily loop: the synthetic clock moves once per revealed day
        if settings.data_source == "pykrx":
            from kstock.market.pykrx_source import PykrxSource

            report = PykrxSource.from_settings(settings).update(store, codes=args.codes or None, end=args.end)
        else:
            report = source_from_settings(settings).update(store)
    if not report.ok:  # a failed update is an error: one line on stderr, exit 1 (the store is as it was)
        raise KstockError(report.message)
    print(report.message)
    for warning in report.warnings:
        print(f"경고: {warning}", file=sys.stderr)
    return 0


def cmd_prune(args: argparse.Namespace, ctx: Context) -> int:
    """Rows after --after (already a strict date): counted first, removed only with --yes. A day before the
    store's first price day is refused: it would remove every price row (an unset variable in a cron line)."""
    from kstock.market.dates import day_int
    from kstock.market.store_reads import rows_after

    store = ctx.store
    first = store.first_price_date()
    if first is not None and args.after < str(first):
        raise KstockError(f"`--after` {args.after}: 저장소의 첫 거래일({first})보다 앞선 날짜입니다 — 모든 가격 행이 "
                          "지워지므로 거부합니다 (날짜를 확인하세요; 변경 없음)")
    counts = rows_after(store, day_int(args.after))
    if counts["prices"] + counts["index"] == 0:
        print(f"지울 행이 없습니다: {args.after} 이후 날짜의 행이 없습니다")
        return 0
    if not args.yes:
        print(f"{args.after} 이후 날짜의 가격 {counts['prices']:,}행, 지수 {counts['index']:,}행이 있습니다 — "
              "지우려면 `--yes`를 붙여 다시 실행하세요 (아무것도 바꾸지 않았습니다)")
        return 1
    removed = store.prune_after(day_int(args.after))
    print(f"{args.after} 이후 날짜의 가격 {removed['prices']:,}행, 지수 {removed['index']:,}행을 지웠습니다")
    return 0


def cmd_check(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.market.store_checks import run_checks

    sections = run_checks(ctx.read_store)
    total = sum(section.count for section in sections)
    if args.json:
        print_json({"ok": total == 0, "total": total, "sections": [section.as_dict() for section in sections]})
        return 1 if total else 0
    for section in sections:
        print(f"{section.title}: {section.count:,}개" if section.count else f"{section.title}: 없음")
        for finding in section.findings:
            print(f"  {finding.line}")
    summary = ", ".join(f"{section.title} {section.count:,}개" for section in sections)
    print(f"요약: {summary}" if total else "요약: 문제 없음")
    return 1 if total else 0


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.market.dates import day_int
    from kstock.market.freshness import seoul_today
    from kstock.market.store_checks import count_bad_rows
    from kstock.market.store_reads import rows_after
    from kstock.market.store_summary import bad_rows_line, completeness_lines  # index lag, partial days
    from kstock.service.korean import kst

    store = ctx.read_store
    summary = store.summary()
    today = seoul_today()
    future = rows_after(store, day_int(today))
    summary["today"] = today.isoformat()
    summary["future_rows"] = future if future["prices"] or future["index"] else None
    summary["bad_rows"] = count_bad_rows(store)
    if args.json:
        print_json(summary)
        return 0
    print(f"저장소 {summary['db']} (스키마 {summary['schema_version']}판)")
    print(f"종목: {summary['tickers']:,}  " + "  ".join(f"{k} {v}" for k, v in summary["by_market"].items()))
    print("종류: " + "  ".join(f"{KIND_KO.get(k, k)} {v}" for k, v in summary["by_kind"].items()))
    print(f"가격: {summary['rows']:,}행, {summary['first_date']} → {summary['last_date']}, "
          f"거래정지 행 {summary['halt_days']:,}개")
    for name, info in summary["indices"].items():
        print(f"지수: {name} {info['rows']:,}행, {info['first_date']} → {info['last_date']}")
    print("\n".join(completeness_lines(summary)) or f"마지막 완전한 거래일: {summary['last_complete_date']}")
    commons = sum(summary["by_sector"].values()) or 1
    print("업종 (보통주):")
    for name, n in summary["by_sector"].items():
        print(f"  {name:<8} {n:>5}  {n / commons:6.1%}")
    if summary.get("future_rows"):
        rows = summary["future_rows"]
        print(f"⚠️ 오늘({summary['today']}) 이후 날짜의 가격 {rows['prices']:,}행과 "
              f"지수 {rows['index']:,}행이 있습니다; `kstock data prune --after {summary['today']} --yes`로 지우세요")
    print(bad_rows_line(summary["bad_rows"]))
    last = summary["last_update"]
    if last:
        print(f"마지막 갱신: {kst(last['finished_at'])} KST, `{last['source']}` "
              f"({_UPDATE_STATUS_KO.get(last['status'], last['status'])})"
              + (f": {last['message']}" if last.get("message") else ""))
    return 0


#: What kind of instrument a code is, and how an update ended, as people read them (``--json`` keeps the keys).
KIND_KO = {"common": "보통주", "etf": "ETF", "etn": "ETN", "preferred": "우선주", "spac": "스팩", "reit": "리츠",
           "fund": "펀드"}
_UPDATE_STATUS_KO = {"ok": "성공", "failed": "실패"}


def cmd_lookup(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.market.sectors import sector_name
    from kstock.market.universe import TickerIndex, recent_traded_value

    store = ctx.read_store  # ambiguous names and 초성 go by 20-day traded value, as in the bot
    result = TickerIndex(store.tickers()).resolve(args.query, recent_traded_value(store))
    rows = [result.match] if result.match else result.candidates
    as_dict = [
        {"code": t.code, "name": t.name, "market": t.market, "kind": str(t.kind), "sector_id": t.sector_id,
         "sector_name": sector_name(t.sector_id)}
        for t in rows
    ]
    if args.json:
        print_json({"query": args.query, "match": as_dict[0] if result.match else None,
                    "candidates": as_dict if not result.match else [],
                    "suggestions": [{"code": t.code, "name": t.name} for t in result.suggestions],
                    "error": result.error})
    elif rows:
        for row in as_dict:
            print(f"{row['code']}  {row['name']}  {row['market']}  {KIND_KO.get(row['kind'], row['kind'])}  "
                  f"{row['sector_name']}")
    if result.error and not args.json:
        raise KstockError(result.error)
    return 0 if rows else 1
