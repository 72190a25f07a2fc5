"""Settings: read from the environment over .env, validated once; bad values name the variable; secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from kstock.config import DEFAULT_API_BASE_URL, Settings, SettingsError, validate_token

TOKEN = "123456789:AAHfake-secret_token_value_0123456789ab"


def test_defaults_run_the_synthetic_demo() -> None:
    s = Settings.from_env({}, dotenv=None)
    assert s.data_source == "synthetic"
    assert s.db_path == Path("data/kstock.db")
    assert s.telegram_api_base_url == DEFAULT_API_BASE_URL
    assert s.top_k == 20 and s.label_horizon == 5
    assert s.admin_ids == () and s.allowed_chat_ids == ()
    assert s.use_gpu is True


def test_values_are_parsed() -> None:
    s = Settings.from_env(
        {
            "KSTOCK_DB": "/tmp/x.db",
            "KSTOCK_ADMIN_IDS": "1, 22;333",
            "KSTOCK_TOP_K": " 7 ",
            "KSTOCK_DATA_SOURCE": "PyKRX",
            "KSTOCK_USE_GPU": "off",
            "KSTOCK_SCORE_TIME": "9:05",
            "KSTOCK_TARGET_RETURN": "0.05",
        },
        dotenv=None,
    )
    assert s.db_path == Path("/tmp/x.db")
    assert s.admin_ids == (1, 22, 333)
    assert s.top_k == 7
    assert s.data_source == "pykrx"
    assert s.use_gpu is False
    assert s.score_time == "09:05"
    assert s.target_return == 0.05


def test_empty_value_keeps_a_non_empty_default() -> None:
    s = Settings.from_env({"KSTOCK_TOP_K": "", "KSTOCK_ADMIN_IDS": ""}, dotenv=None)
    assert s.top_k == 20 and s.admin_ids == ()


def test_environment_wins_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("KSTOCK_TOP_K=3\nKSTOCK_CHART_SIZE=32\n", encoding="utf-8")
    s = Settings.from_env({"KSTOCK_TOP_K": "9"}, dotenv=dotenv)
    assert s.top_k == 9  # environment
    assert s.chart_size == 32  # .env
    assert Settings.from_env({}, dotenv=tmp_path / "absent.env").top_k == 20


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("KSTOCK_TOP_K", "abc", "1 이상의 정수"),
        ("KSTOCK_TOP_K", "0", "1 이상의 정수"),
        ("KSTOCK_ADMIN_IDS", "12,bob", "숫자 텔레그램 사용자 ID"),
        ("KSTOCK_DATA_SOURCE", "yahoo", "`synthetic`, `pykrx`, `csv` 중 하나"),
        ("KSTOCK_USE_GPU", "maybe", "`true` 또는 `false`"),
        ("KSTOCK_SCORE_TIME", "25:00", "HH:MM"),
        ("KSTOCK_PUSH_TIME", "noon", "HH:MM"),
        ("KSTOCK_TARGET_RETURN", "3", "같은 비율"),
        ("KSTOCK_MIN_TRADED_VALUE", "-1", "하루 거래대금(원)"),
        ("KSTOCK_LOG_LEVEL", "verbose", "`debug`/`info`/`warning`/`error`"),
        ("KSTOCK_MIN_TRADED_VALUE", "nan", "하루 거래대금(원)"),  # nan and inf would silently disable the filter
        ("KSTOCK_MIN_TRADED_VALUE", "inf", "하루 거래대금(원)"),
        ("KSTOCK_BUY_THRESHOLD", "nan", "같은 비율"),
        ("KSTOCK_CHART_SIZE", "100000", "16~512 픽셀"),
        ("KSTOCK_CHART_SIZE", "8", "16~512 픽셀"),
        ("KSTOCK_DB", "/", "파일 경로 (폴더가 아님)"),
        ("KSTOCK_MODEL_DIR", "/etc/hostname", "폴더 경로 (파일이 아님)"),
    ],
)
def test_bad_value_names_the_variable_and_what_is_expected(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: value}, dotenv=None)
    message = str(info.value)
    assert name in message and expected in message
    assert "\n" not in message


def test_bad_value_in_dotenv_is_reported_too(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("KSTOCK_TOP_K=abc\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="KSTOCK_TOP_K"):
        Settings.from_env({}, dotenv=dotenv)


def test_cross_field_checks() -> None:
    with pytest.raises(SettingsError, match="TELEGRAM_API_BASE_URL"):
        Settings.from_env({"TELEGRAM_API_BASE_URL": "ftp://example.org/bot"}, dotenv=None)
    with pytest.raises(SettingsError, match="TELEGRAM_API_BASE_URL"):
        Settings.from_env({"TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/"}, dotenv=None)
    assert Settings.from_env({"TELEGRAM_API_BASE_URL": "http://127.0.0.1:8081/bot"}, dotenv=None)
    with pytest.raises(SettingsError, match="KSTOCK_SELL_THRESHOLD"):
        Settings.from_env({"KSTOCK_SELL_THRESHOLD": "0.05", "KSTOCK_BUY_THRESHOLD": "0.03"}, dotenv=None)


def test_secrets_stay_out_of_repr_and_errors() -> None:
    s = Settings.from_env({"TELEGRAM_BOT_TOKEN": TOKEN, "KRX_PW": "hunter2-pw"}, dotenv=None)
    assert s.telegram_bot_token == TOKEN
    assert TOKEN not in repr(s) and "hunter2-pw" not in repr(s)


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-token-at-all-but-long-and-secret",
        "123456789AAHfake-secret_token_value_0123456789ab",  # no colon
        "12:AAHfake-secret",  # bot id too short
        "123456789:bad zq7secretx with spaces",
        "abc:AAHfake-secret_token_value",
    ],
)
def test_malformed_token_never_echoed(bad: str) -> None:
    with pytest.raises(SettingsError) as info:
        validate_token(bad)
    message = str(info.value)
    assert "TELEGRAM_BOT_TOKEN" in message and "형식이 틀렸습니다" in message
    assert bad not in message
    for part in bad.replace(":", " ").split():
        if len(part) >= 8:  # no recognisable piece of the token either
            assert part not in message


def test_token_validation() -> None:
    assert validate_token(f"  {TOKEN}\n") == TOKEN
    with pytest.raises(SettingsError, match="설정되지 않았습니다"):
        validate_token("")


def test_with_overrides_keeps_the_rest() -> None:
    s = Settings.from_env({"KSTOCK_TOP_K": "5"}, dotenv=None)
    t = s.with_overrides(db_path=Path("other.db"), model_dir=None)
    assert t.db_path == Path("other.db") and t.top_k == 5 and t.model_dir == s.model_dir


def test_unwritable_model_dir_is_refused_with_the_variable(tmp_path: Path) -> None:
    from kstock.config import check_model_dir

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for where in (blocker / "models", Path("/proc/kstock-models")):
        with pytest.raises(SettingsError, match=r"KSTOCK_MODEL_DIR`=.*에 쓸 수 없습니다") as info:
            check_model_dir(Settings.from_env({"KSTOCK_MODEL_DIR": str(where)}, dotenv=None))
        assert "\n" not in str(info.value)
    assert check_model_dir(Settings.from_env({"KSTOCK_MODEL_DIR": str(tmp_path / "m")}, dotenv=None)).is_dir()
