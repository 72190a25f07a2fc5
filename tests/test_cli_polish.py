"""CLI polish: ``kstock model`` is ``kstock models``; ``signals --date`` on a day never scored says so and
names the command that scores it."""

from __future__ import annotations

import json


def test_model_is_an_alias_of_models(cli) -> None:
    rc, out, err = cli("model", "--json")
    assert rc == 0, err
    assert json.loads(out) == json.loads(cli("models", "--json")[1])


def test_signals_on_an_unscored_day_suggests_scoring_it(cli) -> None:
    assert cli("score")[0] == 0
    rc, _, err = cli("signals", "--date", "2025-05-30")
    assert rc == 1 and "채점되지 않은 날" in err and "kstock score --date 2025-05-30" in err


def test_an_error_with_an_admin_hint_shows_it_in_the_cli(cli, monkeypatch) -> None:
    from kstock.service import analyze as analyze_module

    def no_prices(*_args, **_kwargs):
        error = analyze_module.NoPriceDataError("삼성전자(005930): 저장된 가격 데이터가 없습니다.")
        error.admin_hint = "`kstock data update`로 받아 오세요."
        raise error

    monkeypatch.setattr(analyze_module, "analyze", no_prices)
    rc, _, err = cli("analyze", "삼성전자")
    assert rc == 1 and "저장된 가격 데이터가 없습니다. `kstock data update`" in err and len(err.splitlines()) == 1


def test_lookup_orders_by_traded_value_and_takes_choseong(cli) -> None:
    rc, out, err = cli("lookup", "ㅅㅅㅈㅈ", "--json")
    assert rc == 0, err
    assert json.loads(out)["match"]["code"] == "005930"
    rc, out, _ = cli("lookup", "삼전")
    assert rc == 0 and out.startswith("005930")
