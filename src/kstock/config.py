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
        "TELEGRAM_BOT_TOKEN", str.strip, "@BotFather가 준 토큰", "", secret=True
    )
    telegram_api_base_url: str = _setting(
        "TELEGRAM_API_BASE_URL", str.strip, "`/bot`으로 끝나는 http(s) 주소", DEFAULT_API_BASE_URL
    )
    admin_ids: tuple[int, ...] = _setting(
        "KSTOCK_ADMIN_IDS", _int_list, "쉼표로 구분한 숫자 텔레그램 사용자 ID", ()
    )
    allowed_chat_ids: tuple[int, ...] = _setting(
        "KSTOCK_ALLOWED_CHAT_IDS", _int_list, "쉼표로 구분한 숫자 채팅 ID (비우면 모두 허용)", ()
    )
    db_path: Path = _setting("KSTOCK_DB", _file_path, "파일 경로 (폴더가 아님)", Path("data/kstock.db"))
    model_dir: Path = _setting("KSTOCK_MODEL_DIR", _folder_path, "폴더 경로 (파일이 아님)", Path("models"))
    data_source: str = _setting(
        "KSTOCK_DATA_SOURCE", _choice(DATA_SOURCES), ", ".join(f"`{s}`" for s in DATA_SOURCES) + " 중 하나", "synthetic"
    )
    csv_dir: Path | None = _setting("KSTOCK_CSV_DIR", Path, "종목코드.csv 파일이 든 폴더", None)
    krx_id: str = _setting("KRX_ID", str.strip, "KRX 정보데이터시스템 로그인 ID", "")
    krx_pw: str = _setting("KRX_PW", str, "KRX 정보데이터시스템 비밀번호", "", secret=True)
    label_horizon: int = _setting("KSTOCK_LABEL_HORIZON", _positive_int, "1 이상의 일수", 5)
    target_return: float = _setting(
        "KSTOCK_TARGET_RETURN", _fraction, "0.03 같은 비율", 0.03
    )
    buy_threshold: float = _setting("KSTOCK_BUY_THRESHOLD", _fraction, "0.03 같은 비율", 0.03)
    sell_threshold: float = _setting("KSTOCK_SELL_THRESHOLD", _fraction, "-0.03 같은 비율", -0.03)
    top_k: int = _setting("KSTOCK_TOP_K", _positive_int, "1 이상의 정수", 20)
    min_traded_value: float = _setting(
        "KSTOCK_MIN_TRADED_VALUE", _non_negative_float, "하루 거래대금(원), 예: 1000000000", 1e9
    )
    min_coverage: float = _setting(
        "KSTOCK_MIN_COVERAGE", _share, "0 초과 1 이하의 비율, 예: 0.95", 0.95
    )
    chart_size: int = _setting(
        "KSTOCK_CHART_SIZE", _chart_size, f"{CHART_SIZE_RANGE[0]}~{CHART_SIZE_RANGE[1]} 픽셀, 예: 64", 64
    )
    analyze_per_minute: int = _setting(
        "KSTOCK_ANALYZE_PER_MINUTE", _positive_int, "1 이상의 정수", 10
    )
    train_years: float = _setting(
        "KSTOCK_TRAIN_YEARS", _non_negative_float, "학습에 쓸 햇수, 예: 10 (0 = 전부)", 10.0
    )
    model_max_age: int = _setting(
        "KSTOCK_MODEL_MAX_AGE", _positive_int, "1 이상의 거래일 수, 예: 10", 10
    )
    update_time: str = _setting("KSTOCK_UPDATE_TIME", _hhmm, "한국 시간 HH:MM", "15:50")
    score_time: str = _setting("KSTOCK_SCORE_TIME", _hhmm, "한국 시간 HH:MM", "16:10")
    push_time: str = _setting("KSTOCK_PUSH_TIME", _hhmm, "한국 시간 HH:MM", "16:40")
    use_gpu: bool = _setting("KSTOCK_USE_GPU", _bool, "`true` 또는 `false`", True)
    log_level: str = _setting(
        "KSTOCK_LOG_LEVEL", _choice(("debug", "info", "warning", "error")), "`debug`/`info`/`warning`/`error`", "info"
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
                expected = f.metadata["expected"]
                raise SettingsError(f"`{name}`={shown} 값이 올바르지 않습니다: {expected}이어야 합니다") from None
        settings = cls(**kwargs)
        settings._check()
        return settings

    def _check(self) -> None:
        if not self.telegram_api_base_url.startswith(("http://", "https://")) or not (
            self.telegram_api_base_url.rstrip("/").endswith("/bot")
        ):
            raise SettingsError(
                f"`TELEGRAM_API_BASE_URL`={self.telegram_api_base_url!r} 값이 올바르지 않습니다: "
                "`/bot`으로 끝나는 http(s) 주소여야 합니다 (예: `https://api.telegram.org/bot`)"
            )
        if self.sell_threshold >= self.buy_threshold:
            raise SettingsError("`KSTOCK_SELL_THRESHOLD`는 `KSTOCK_BUY_THRESHOLD`보다 작아야 합니다")

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
        raise SettingsError(f"`KSTOCK_MODEL_DIR`={str(folder)!r}에 쓸 수 없습니다 ({exc.strerror or exc}): "
                            "kstock이 모델을 쓸 수 있는 폴더여야 합니다") from None
    return folder


def validate_token(token: str) -> str:
    """Check a bot token's shape (``<digits>:<35ish url-safe chars>``) without ever echoing it."""
    import re

    if not token:
        raise SettingsError("`TELEGRAM_BOT_TOKEN`이 설정되지 않았습니다: @BotFather가 준 토큰을 넣으세요")
    if not re.fullmatch(r"\d{3,}:[A-Za-z0-9_-]{5,}", token.strip()):
        raise SettingsError("`TELEGRAM_BOT_TOKEN` 형식이 틀렸습니다: "
                            "@BotFather가 준 `<봇 ID>:<비밀값>` 형식이어야 합니다")
    return token.strip()
