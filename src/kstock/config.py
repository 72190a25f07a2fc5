"""Settings: one object read from the environment and ``.env``, validated once at start.

Every knob of kstock is an environment variable (documented in ``.env.example``). A bad value stops
the program with one line naming the variable and what is expected, instead of failing later deep
inside a job.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from kstock.errors import KstockError

DEFAULT_API_BASE_URL = "https://api.telegram.org/bot"
DATA_SOURCES = ("synthetic", "pykrx", "csv")


class SettingsError(KstockError, ValueError):
    """A setting has a bad value; the message names the variable and what is expected."""


def _int_list(raw: str) -> tuple[int, ...]:
    items = [p.strip() for p in raw.replace(";", ",").split(",") if p.strip()]
    return tuple(int(p) for p in items)


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(raw)


def _hhmm(raw: str) -> str:
    hh, mm = raw.strip().split(":")
    if not (0 <= int(hh) < 24 and 0 <= int(mm) < 60):
        raise ValueError(raw)
    return f"{int(hh):02d}:{int(mm):02d}"


def _choice(options: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in options:
            raise ValueError(raw)
        return value

    return parse


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError(raw)
    return value


def _fraction(raw: str) -> float:
    value = _finite(raw)
    if not -1.0 < value < 1.0:
        raise ValueError(raw)
    return value


def _finite(raw: str) -> float:
    """A float that is a number: ``nan`` and ``inf`` are refused (they would silently disable a filter)."""
    value = float(raw)
    if not math.isfinite(value):
        raise ValueError(raw)
    return value


def _share(raw: str) -> float:
    """A share of a whole, more than 0 and at most 1 (0.95 = 95%)."""
    value = _finite(raw)
    if not 0.0 < value <= 1.0:
        raise ValueError(raw)
    return value


def _non_negative_float(raw: str) -> float:
    value = _finite(raw)
    if value < 0:
        raise ValueError(raw)
    return value


#: Chart pixels the sector model may be trained on: below 16 there is no chart left, above 512 a batch
#: no longer fits in memory (the seed used 224).
CHART_SIZE_RANGE = (16, 512)


def _chart_size(raw: str) -> int:
    value = int(raw)
    if not CHART_SIZE_RANGE[0] <= value <= CHART_SIZE_RANGE[1]:
        raise ValueError(raw)
    return value


def _file_path(raw: str) -> Path:
    """A file path (not a folder, not empty)."""
    if not raw.strip():
        raise ValueError(raw)
    path = Path(raw.strip())
    if path.is_dir():
        raise ValueError(raw)
    return path


def _folder_path(raw: str) -> Path:
    """A folder path (not an existing file, not empty)."""
    if not raw.strip():
        raise ValueError(raw)
    path = Path(raw.strip())
    if path.exists() and not path.is_dir():
        raise ValueError(raw)
    return path


def _setting(env: str, parse: Callable[[str], Any], expected: str, default: Any, secret: bool = False) -> Any:
    """A dataclass field bound to an environment variable; secrets stay out of ``repr`` and logs."""
    return field(default=default, repr=not secret, metadata={"env": env, "parse": parse, "expected": expected})


@dataclass(frozen=True)
class Settings:
    """All kstock settings. Build with :meth:`from_env`; the defaults run the synthetic demo."""

    telegram_bot_token: str = _setting(
        "TELEGRAM_BOT_TOKEN", str.strip, "the token from @BotFather", "", secret=True
    )
    telegram_api_base_url: str = _setting(
        "TELEGRAM_API_BASE_URL", str.strip, "an http(s) URL ending in /bot", DEFAULT_API_BASE_URL
    )
    admin_ids: tuple[int, ...] = _setting(
        "KSTOCK_ADMIN_IDS", _int_list, "comma-separated numeric Telegram user ids", ()
    )
    allowed_chat_ids: tuple[int, ...] = _setting(
        "KSTOCK_ALLOWED_CHAT_IDS", _int_list, "comma-separated numeric chat ids (empty = everyone)", ()
    )
    db_path: Path = _setting("KSTOCK_DB", _file_path, "a file path (not a folder)", Path("data/kstock.db"))
    model_dir: Path = _setting("KSTOCK_MODEL_DIR", _folder_path, "a folder path (not a file)", Path("models"))
    data_source: str = _setting(
        "KSTOCK_DATA_SOURCE", _choice(DATA_SOURCES), "one of " + ", ".join(DATA_SOURCES), "synthetic"
    )
    csv_dir: Path | None = _setting("KSTOCK_CSV_DIR", Path, "a folder of <code>.csv files", None)
    krx_id: str = _setting("KRX_ID", str.strip, "your KRX data-portal login", "")
    krx_pw: str = _setting("KRX_PW", str, "your KRX data-portal password", "", secret=True)
    label_horizon: int = _setting("KSTOCK_LABEL_HORIZON", _positive_int, "a positive number of days", 5)
    target_return: float = _setting(
        "KSTOCK_TARGET_RETURN", _fraction, "a fraction such as 0.03", 0.03
    )
    buy_threshold: float = _setting("KSTOCK_BUY_THRESHOLD", _fraction, "a fraction such as 0.03", 0.03)
    sell_threshold: float = _setting("KSTOCK_SELL_THRESHOLD", _fraction, "a fraction such as -0.03", -0.03)
    top_k: int = _setting("KSTOCK_TOP_K", _positive_int, "a positive integer", 20)
    min_traded_value: float = _setting(
        "KSTOCK_MIN_TRADED_VALUE", _non_negative_float, "KRW per day, e.g. 1000000000", 1e9
    )
    min_coverage: float = _setting(
        "KSTOCK_MIN_COVERAGE", _share, "a share above 0 and at most 1, e.g. 0.95", 0.95
    )
    chart_size: int = _setting(
        "KSTOCK_CHART_SIZE", _chart_size, f"pixels from {CHART_SIZE_RANGE[0]} to {CHART_SIZE_RANGE[1]}, e.g. 64", 64
    )
    analyze_per_minute: int = _setting(
        "KSTOCK_ANALYZE_PER_MINUTE", _positive_int, "a positive integer", 10
    )
    train_years: float = _setting(
        "KSTOCK_TRAIN_YEARS", _non_negative_float, "years of history training reads, e.g. 10 (0 = all)", 10.0
    )
    model_max_age: int = _setting(
        "KSTOCK_MODEL_MAX_AGE", _positive_int, "a positive number of trading days, e.g. 10", 10
    )
    update_time: str = _setting("KSTOCK_UPDATE_TIME", _hhmm, "HH:MM in KST", "15:50")
    score_time: str = _setting("KSTOCK_SCORE_TIME", _hhmm, "HH:MM in KST", "16:10")
    push_time: str = _setting("KSTOCK_PUSH_TIME", _hhmm, "HH:MM in KST", "16:40")
    use_gpu: bool = _setting("KSTOCK_USE_GPU", _bool, "true or false", True)
    log_level: str = _setting(
        "KSTOCK_LOG_LEVEL", _choice(("debug", "info", "warning", "error")), "debug/info/warning/error", "info"
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv: Path | str | None = ".env") -> Settings:
        """Read settings from ``env`` (default ``os.environ``) over a ``.env`` file; validate each."""
        values = dict(_read_dotenv(dotenv)) if dotenv else {}
        values.update(os.environ if env is None else env)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            name = f.metadata["env"]
            raw = values.get(name)
            if raw is None or (raw.strip() == "" and f.default not in ("", ())):
                continue
            try:
                kwargs[f.name] = f.metadata["parse"](raw)
            except (ValueError, TypeError, OverflowError):
                shown = "<hidden>" if name in ("KRX_PW", "TELEGRAM_BOT_TOKEN") else repr(raw)
                raise SettingsError(f"{name}={shown} is invalid: expected {f.metadata['expected']}") from None
        settings = cls(**kwargs)
        settings._check()
        return settings

    def _check(self) -> None:
        if not self.telegram_api_base_url.startswith(("http://", "https://")) or not (
            self.telegram_api_base_url.rstrip("/").endswith("/bot")
        ):
            raise SettingsError(
                f"TELEGRAM_API_BASE_URL={self.telegram_api_base_url!r} is invalid: "
                "expected an http(s) URL ending in /bot, e.g. https://api.telegram.org/bot"
            )
        if self.sell_threshold >= self.buy_threshold:
            raise SettingsError("KSTOCK_SELL_THRESHOLD must be below KSTOCK_BUY_THRESHOLD")

    def with_overrides(self, **changes: Any) -> Settings:
        """A copy with some fields replaced (used by ``--db`` and tests)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update({k: v for k, v in changes.items() if v is not None})
        return Settings(**data)


def _read_dotenv(path: Path | str) -> dict[str, str]:
    p = Path(path)
    if not p.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(p).items() if v is not None}


def check_model_dir(settings: Settings) -> Path:
    """Make sure ``KSTOCK_MODEL_DIR`` can hold new models (created when missing; a probe file written and
    removed) — at start, so a bot or a training does not find out after an hour of work."""
    folder = Path(settings.model_dir)
    probe = folder / f".kstock-write-test-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise SettingsError(f"KSTOCK_MODEL_DIR={str(folder)!r} is not writable ({exc.strerror or exc}): expected a "
                            "folder kstock may write models to") from None
    return folder


def validate_token(token: str) -> str:
    """Check a bot token's shape (``<digits>:<35ish url-safe chars>``) without ever echoing it."""
    import re

    if not token:
        raise SettingsError("TELEGRAM_BOT_TOKEN is not set: expected the token from @BotFather")
    if not re.fullmatch(r"\d{3,}:[A-Za-z0-9_-]{5,}", token.strip()):
        raise SettingsError("TELEGRAM_BOT_TOKEN is malformed: expected '<bot id>:<secret>' as given by @BotFather")
    return token.strip()
