"""CLI polish: ``kstock model`` is ``kstock models``; ``signals --date`` on a day never scored says so and
names the command that scores it."""

from __future__ import annotations

import json

from test_cli_models import cli  # noqa: F401  (the fixture)


def test_model_is_an_alias_of_models(cli) -> None:  # noqa: F811
    rc, out, err = cli("model", "--json")
    assert rc == 0, err
    assert json.loads(out) == json.loads(cli("models", "--json")[1])


def test_signals_on_an_unscored_day_suggests_scoring_it(cli) -> None:  # noqa: F811
    assert cli("score")[0] == 0
    rc, out, err = cli("signals", "--date", "2025-05-30")
    assert rc == 1 and "채점되지 않은 날" in err and "kstock score --date 2025-05-30" in err
