"""The ``kstock`` command line: thin commands over the service layer.

Each command module registers its subcommands with :func:`register`; the handler gets the parsed
arguments and a :class:`Context` (settings, lazily opened store) and returns an exit status. Errors a
user can act on (:class:`kstock.errors.KstockError`) become one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from kstock.config import Settings
from kstock.errors import KstockError

if TYPE_CHECKING:
    from kstock.market.store import MarketStore

Handler = Callable[[argparse.Namespace, "Context"], int]


@dataclass
class Context:
    """What every command needs: validated settings and the store (opened on first use)."""

    settings: Settings
    _store: MarketStore | None = field(default=None, repr=False)

    @property
    def store(self) -> MarketStore:
        """The existing store, for writing; opened on first use, so `kstock --help` and bad arguments never
        touch the file. A store that does not exist is refused (a mistyped --db is not a new, empty store)."""
        return self._open(create=False)

    @property
    def new_store(self) -> MarketStore:
        """The store for the commands that fill it (`data import|synth|update`): created when absent."""
        return self._open(create=True)

    @property
    def read_store(self) -> MarketStore:
        """The store opened read-only (SQLite ``mode=ro``) for commands that only read: they never write,
        never mark another process's run, and work on a read-only file."""
        return self._open(readonly=True)

    def _open(self, *, create: bool = False, readonly: bool = False) -> MarketStore:
        if self._store is None:
            from kstock.market.store import MarketStore

            self._store = MarketStore(self.settings.db_path, create=create, readonly=readonly)
            self._store.min_coverage = self.settings.min_coverage
            from kstock.service.leftovers import clean_temp_files

            clean_temp_files(self.settings)  # what a killed command left (cache and model temporary files)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options every subcommand takes."""
    parser.add_argument("--db", type=Path, default=None, help="저장소 파일 (기본값: KSTOCK_DB 또는 data/kstock.db)")


#: argparse's own English phrases, as a Korean reader reads them (the options themselves stay as code).
_ARGPARSE_KO = (
    (re.compile(r"^argument ([^:]+): "), r"`\1`: "),
    (re.compile(r"invalid choice: (\S+) \(choose from (.*)\)"), r"\1은(는) 고를 수 없습니다 (\2 중에서 고르세요)"),
    (re.compile(r"invalid (\w+) value: (\S+)"), r"\2은(는) 올바른 값이 아닙니다 (\1)"),
    (re.compile(r"^the following arguments are required: (.*)"), r"꼭 필요한 인자가 빠졌습니다: `\1`"),
    (re.compile(r"^unrecognized arguments: (.*)"), r"알 수 없는 인자: `\1`"),
    (re.compile(r"expected one argument"), "값이 하나 필요합니다"),
)


def korean_argparse_message(message: str) -> str:
    """argparse's error detail in Korean; a message kstock wrote itself passes unchanged."""
    for pattern, replacement in _ARGPARSE_KO:
        message = pattern.sub(replacement, message)
    return message


class _Formatter(argparse.HelpFormatter):
    """argparse's help with its one English prefix in Korean."""

    def add_usage(self, usage, actions, groups, prefix=None) -> None:  # type: ignore[no-untyped-def]
        super().add_usage(usage, actions, groups, "사용법: " if prefix is None else prefix)


class _Parser(argparse.ArgumentParser):
    """argparse whose help and error lines read in Korean, as kstock's own output; on an error the usage is
    pointed to, not dumped."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        add_help = kwargs.pop("add_help", True)
        super().__init__(*args, add_help=False, **kwargs)
        self._positionals.title = "명령과 인자"
        self._optionals.title = "옵션"
        if add_help:
            self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                              help="이 도움말을 보여 주고 끝냅니다")

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"kstock: 오류: {korean_argparse_message(message)}\n"
                     f"사용법은 `{self.prog} -h`로 볼 수 있습니다.\n")


def build_parser() -> argparse.ArgumentParser:
    from kstock.cli import daily_cmds, data_cmds, model_cmds

    parser = _Parser(
        prog="kstock",
        description="kstock — 트리·LSTM·업종 모델이 내는 코스피/코스닥 신호 (투자 권유가 아닙니다).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="디버그 정보까지 로그로 남깁니다")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (data_cmds, model_cmds, daily_cmds, *_optional_command_modules()):
        module.register(sub)
    return parser


def _optional_command_modules() -> list:
    """Command groups that live beside the core (bot, deep models); each registers itself."""
    import importlib

    modules = []
    for name in ("kstock.cli.bot_cmds", "kstock.cli.deep_cmds"):
        try:
            modules.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return modules


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx: Context | None = None
    try:
        settings = Settings.from_env()
        if getattr(args, "db", None) is not None:
            settings = settings.with_overrides(db_path=args.db)
        ctx = Context(settings)
        status = int(args.handler(args, ctx) or 0)
        sys.stdout.flush()  # here, not at exit: a reader that has gone (`| head`) is met below
        return status
    except BrokenPipeError:
        return closed_pipe()
    except KstockError as exc:
        hint = getattr(exc, "admin_hint", None)  # the shell command the bot shows admins only
        print(f"kstock: 오류: {exc}" + (f" {hint}" if hint else ""), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kstock: 중단됨", file=sys.stderr)
        return 130
    finally:
        if ctx is not None:
            ctx.close()


#: Exit status of a command whose reader went away (``kstock signals | head -2``): 128 + SIGPIPE, as a shell
#: reports for ``cat`` or ``grep`` in the same place.
CLOSED_PIPE_STATUS = 141


def closed_pipe() -> int:
    """The reader of stdout has gone: end quietly (no traceback, no "Exception ignored" at exit) — stdout is
    pointed at /dev/null so the interpreter's last flush has nowhere to fail."""
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return CLOSED_PIPE_STATUS


def command(sub: argparse._SubParsersAction, name: str, handler: Handler, help_text: str,
            description: str | None = None, aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """Add a subcommand (and its ``aliases``) with the common options and its handler."""
    parser = sub.add_parser(name, help=help_text, description=description or help_text, aliases=list(aliases))
    add_common(parser)
    parser.set_defaults(handler=handler)
    return parser


def date_arg(text: str) -> str:
    """argparse ``type`` of every date flag: the market layer's strict parser (``YYYY-MM-DD`` or ``YYYYMMDD``),
    as ISO text; anything else is an argparse error in Korean (exit 2) before any work or store access."""
    from kstock.market.dates import DateInputError, typed_iso

    try:
        return typed_iso(text)
    except DateInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def print_json(obj: object) -> None:
    import json

    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
