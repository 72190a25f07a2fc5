"""`kstock data …` and `kstock lookup`: filling the store and finding tickers in it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kstock.cli import Context, command, print_json
from kstock.errors import KstockError


def register(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="fill and inspect the market store", description="Fill and inspect the store.")
    data_sub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    p = command(data_sub, "import", cmd_import, "import a folder of per-ticker CSV files (pykrx or FinanceDataReader)",
                "Import one CSV per ticker (file name = code) in the pykrx (날짜,시가,…) or FinanceDataReader "
                "(Date,Open,…) dialect. Bad files are reported and skipped; nothing stored is lost.")
    p.add_argument("directory", type=Path, help="folder with one <code>.csv per ticker")
    p.add_argument("--tickers", type=Path, help="tickers file with code,name,market[,ksic_industry,wics_*,…]")
    p.add_argument("--sectors", type=Path, help="KRX 업종 file (종목코드,…,업종명) used for sector ids")
    p.add_argument("--index", action="append", default=[], metavar="NAME=FILE",
                   help="an index series, e.g. KOSPI=../shared/data/krx/index/kospi.csv (repeatable)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    p = command(data_sub, "synth", cmd_synth, "generate the embedded synthetic KRX-like market into the store",
                "Generate a deterministic synthetic market (codes, names, both markets, 13 sectors, halts, "
                "price limits, tick sizes, learnable structure) and store it.")
    p.add_argument("--tickers", type=int, default=100, help="number of instruments (default 100)")
    p.add_argument("--years", type=float, default=3.0, help="years of daily data (default 3)")
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")

    p = command(data_sub, "update", cmd_update, "fetch new daily prices from KRX through pykrx (needs network)",
                "Incrementally fetch adjusted daily OHLCV and the KOSPI/KOSDAQ index via pykrx. With no network the "
                "store is left as it was and the age of the stored data is reported.")
    p.add_argument("--codes", nargs="*", help="only these codes")
    p.add_argument("--end", help="last date to fetch (default today, KST)")

    p = command(data_sub, "status", cmd_status, "show what the store holds")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = command(sub, "lookup", cmd_lookup, "resolve a ticker code or a Korean/English name",
                "Resolve a code (005930) or a name (삼성전자, 삼성전자우, Samsung Electronics); near misses get "
                "suggestions.")
    p.add_argument("query", help="code or name")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _parse_index_options(values: list[str]) -> dict[str, Path]:
    out = {}
    for item in values:
        name, sep, path = item.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise KstockError(f"--index {item!r}: expected NAME=FILE, e.g. KOSPI=index/kospi.csv")
        out[name.strip().upper()] = Path(path.strip())
    return out


def cmd_import(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.market.csv_import import import_directory

    report = import_directory(
        ctx.store, args.directory, tickers_file=args.tickers, sectors_file=args.sectors,
        index_files=_parse_index_options(args.index), progress=not args.no_progress,
    )
    print(f"imported {report.files_ok} files, {report.rows_read:,} rows ({report.rows_changed:,} changed), "
          f"{report.tickers} tickers")
    for name, n in report.index_rows.items():
        print(f"index {name}: {n:,} rows")
    # diagnostics go to stderr, so stdout stays the summary of what was stored
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for name, reason in report.bad_files:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    return 0 if report.files_ok else 1


def cmd_synth(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.market.synthetic import generate_market

    if not 25 <= args.tickers <= 5000:
        raise KstockError("--tickers must be between 25 and 5000")
    if not 0.5 <= args.years <= 30:
        raise KstockError("--years must be between 0.5 and 30")
    market = generate_market(n_tickers=args.tickers, years=args.years, seed=args.seed)
    changed = ctx.store.ingest(market, source=f"synthetic:seed={args.seed}")
    print(f"synthetic market: {len(market.tickers)} tickers, {len(market.prices):,} rows ({changed:,} changed) "
          f"→ {ctx.settings.db_path}")
    return 0


def cmd_update(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.market.pykrx_source import PykrxSource

    source = PykrxSource.from_settings(ctx.settings)
    report = source.update(ctx.store, codes=args.codes or None, end=args.end)
    if not report.ok:  # a failed update is an error: one line on stderr, exit 1 (the store is as it was)
        raise KstockError(report.message)
    print(report.message)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    summary = ctx.store.summary()
    if args.json:
        print_json(summary)
        return 0
    print(f"store {summary['db']} (schema v{summary['schema_version']})")
    print(f"tickers: {summary['tickers']:,}  " + "  ".join(f"{k} {v}" for k, v in summary["by_market"].items()))
    print("kinds:   " + "  ".join(f"{k} {v}" for k, v in summary["by_kind"].items()))
    print(f"prices:  {summary['rows']:,} rows, {summary['first_date']} → {summary['last_date']}, "
          f"{summary['halt_days']:,} halt days")
    for name, info in summary["indices"].items():
        print(f"index:   {name} {info['rows']:,} rows, {info['first_date']} → {info['last_date']}")
    commons = sum(summary["by_sector"].values()) or 1
    print("sectors (common stocks):")
    for name, n in summary["by_sector"].items():
        print(f"  {name:<8} {n:>5}  {n / commons:6.1%}")
    last = summary["last_update"]
    if last:
        print(f"last update: {last['finished_at']} via {last['source']} ({last['status']})"
              + (f": {last['message']}" if last.get("message") else ""))
    return 0


def cmd_lookup(args: argparse.Namespace, ctx: Context) -> int:
    from kstock.market.sectors import sector_name
    from kstock.market.universe import TickerIndex

    result = TickerIndex(ctx.store.tickers()).resolve(args.query)
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
            print(f"{row['code']}  {row['name']}  {row['market']}  {row['kind']}  {row['sector_name']}")
    if result.error and not args.json:
        raise KstockError(result.error)
    return 0 if rows else 1
