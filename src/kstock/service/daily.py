"""The daily loop — update the data, score every model, store the day's book — written once for every door.

The bot's job queue runs the steps at their times (update, then scoring, then the push, which lives in
the bot because only it can send), and ``kstock daily`` runs update and scoring back to back for people who
schedule with cron or a systemd timer. Each step is recorded as a job run *for a trading day*
(``job_runs.day``), so a step that already succeeded for that day is not run again — after a restart, a
retry or a second front door — and a step only starts once the one before it succeeded for that day.

**The day.** Each source has a clock (:mod:`kstock.market.sources`): for KRX (pykrx, csv) the day is
the latest session whose bar is final in Seoul; for the synthetic market it is the next generated day,
until that day's loop is finished (a loop interrupted after its update resumes the same day).

**Exactly once** (DESIGN §7). A step's effect and its "done" record are one transaction: the synthetic
market's new day, its clock's move and the update's record; the day's book and the scoring's record. A
step killed at any moment left neither, so the next run does it again — never skipped, never twice. The
effects of the other sources' updates are idempotent upserts the next run finds in place. One loop runs
per store at a time (:mod:`kstock.service.loop_lock`): :func:`run_daily`, :func:`score_now` and the bot's
:func:`update_today` / :func:`score_today` take the store's loop lock, wait a few seconds for another
loop, then say "이미 실행 중" and do nothing.

**Staleness is never hidden.** When, after the update, the store's last trading day is behind the day,
the scoring is recorded as ``stale`` and no book is stored for the day: nobody is sent old signals as
today's. What the bot tells people then is in :mod:`kstock.bot.jobs`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from kstock.errors import KstockError
from kstock.market.calendar import TradingCalendar
from kstock.market.dates import day_int, iso
from kstock.market.freshness import as_date, last_stored_day
from kstock.market.sources import DataSource, SyntheticSource, source_from_settings, synthetic_spec
from kstock.service import runs
from kstock.service.context import Services
from kstock.service.coverage import stale_record
from kstock.service.loop_lock import loop_lock
from kstock.service.scoring import ScoringReport, score_market

log = logging.getLogger(__name__)

UPDATE, SCORE, PUSH = "update", "score", "push"
#: Statuses that end a day's loop (the synthetic clock then moves on); only "ok" keeps a step from running
#: again the same day — a stale or failed day is tried again when the data may have arrived.
DONE = ("ok", "stale")


@dataclass
class Freshness:
    """How the stored data relates to the source's current trading day."""

    today: str  # the trading day the loop is for (ISO)
    data_date: str | None  # the store's last trading day
    behind: int  # trading days the data is behind ``today`` (0 = current)

    @property
    def stale(self) -> bool:
        return self.data_date is None or self.behind > 0

    def warning(self) -> str | None:
        """The ⚠️ line every user-facing list carries when the data is old; None when current."""
        if not self.stale:
            return None
        if self.data_date is None:
            return "⚠️ 저장된 시세 데이터가 없습니다."
        return f"⚠️ 시세 데이터가 {self.behind}거래일 지났습니다 (기준일 {self.data_date}, 오늘 {self.today})."


def freshness(services: Services, today: str | dt.date | None = None) -> Freshness:
    """The store's age against ``today`` (default: the configured source's current trading day)."""
    store = services.store
    day = as_date(today) if today is not None else services.today()
    last = last_stored_day(store)
    if last is None:
        return Freshness(day.isoformat(), None, 0)
    data_date = iso(last)
    behind = 0
    if as_date(data_date) < day:  # at least one: a day with no session in between is still not today's data
        behind = max(1, TradingCalendar.from_store(store).trading_days_between(data_date, day))
    return Freshness(day.isoformat(), data_date, behind)


def signals_warning(services: Services, date: str | None) -> str | None:
    """The ⚠️ line for a stored book dated ``date`` when it is not the source's current trading day."""
    if not date:
        return None
    today = services.today()
    if as_date(date) >= today:
        return None
    behind = max(1, TradingCalendar.from_store(services.store).trading_days_between(date, today))
    return f"⚠️ {date} 기준 신호입니다 — {behind}거래일 지났습니다 (오늘 {today.isoformat()})."


@dataclass
class StepResult:
    step: str
    day: str
    status: str  # ok / stale / failed / skipped / done (already ran for the day)
    message: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class DailyReport:
    day: str
    steps: list[StepResult]
    freshness: Freshness | None = None
    scoring: ScoringReport | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return all(s.status in ("ok", "done") for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        fresh = asdict(self.freshness) if self.freshness else None
        if self.freshness:
            fresh["stale"] = self.freshness.stale
        out: dict[str, Any] = {"day": self.day, "ok": self.ok, "freshness": fresh,
                               "steps": [asdict(s) for s in self.steps]}
        if self.scoring is not None:
            out["book"] = {"date": self.scoring.date, "buys": [s.code for s in self.scoring.buys],
                           "sells": [s.code for s in self.scoring.sells]}
        return out


def loop_day(services: Services, source: DataSource | None = None, now: dt.datetime | None = None) -> str:
    """The trading day the loop works on now (see the module docstring), ISO."""
    source = source or services.data_source()
    store = services.store
    if simulated(source):
        spec = synthetic_spec(store)
        if spec is not None:
            current = spec.today
            scored = runs.run_for_day(store, SCORE, current)
            if current > spec.present and (scored is None or scored.status not in DONE):
                return current  # a revealed day whose loop did not finish (killed after its update): finish it
            return source.next_day(store) or current
    return source.today(store, now).isoformat()


def simulated(source: DataSource) -> bool:
    """The synthetic market: its update *makes* the next day (rows, clock and record in one transaction), and
    the bot moves it at most one day per calendar day. The loop's one special case, asked here only."""
    return isinstance(source, SyntheticSource)


def failure_reason(exc: BaseException) -> str:
    """A failed step's recorded reason: a :class:`KstockError`'s own (Korean) words, else the exception's type too."""
    return str(exc) if isinstance(exc, KstockError) else f"{type(exc).__name__}: {exc}"


@contextmanager
def recorded_run(services: Services, job: str, day: str | None, what: str | None = None, *,
                 wait: float | None = None) -> Iterator[int]:
    """Start a job run for ``day`` and yield its id; the body closes it (``runs.finish_run``), usually in the
    transaction of its effect. Any exception out of the body is recorded as the run's failure and raised again;
    one that is not a :class:`KstockError` is logged with its traceback as ``"<what> failed"`` (when ``what``).
    ``wait`` bounds the wait for a store another writer holds (a chat's request waits at most 2 s)."""
    run_id = runs.start_run(services.store, job, day, wait=wait)
    try:
        yield run_id
    except Exception as exc:
        runs.finish_run(services.store, run_id, "failed", {}, failure_reason(exc))
        if what is not None and not isinstance(exc, KstockError):
            log.exception("%s failed", what)
        raise


def record_run(services: Services, job: str, day: str | None, status: str, metrics: dict[str, Any],
               reason: str | None) -> None:
    """A run decided without work (stale, skipped): started and finished at once."""
    run_id = runs.start_run(services.store, job, day)
    runs.finish_run(services.store, run_id, status, metrics, reason)


def update_step(services: Services, day: str, source: DataSource | None = None, *,
                progress: bool = False, clock_day: str | None = None) -> StepResult:
    """Fetch the day's data from the source, once per day; ``stale`` when the source had nothing new.

    ``clock_day`` (the caller's calendar day, KST) is recorded with the run: the bot uses it to move the
    synthetic market at most one day per calendar day.
    """
    store = services.store
    done = runs.run_for_day(store, UPDATE, day)
    if done is not None and done.status == "ok":
        return StepResult(UPDATE, day, "done", "이미 갱신됨", done.metrics)
    source = source or services.data_source()
    if _already_stored(services, source, day):  # the day's data is already stored (an import, a re-run)
        return StepResult(UPDATE, day, "done", "이미 최신 데이터", {"data_date": day})
    try:
        with recorded_run(services, UPDATE, day, "data update") as run_id:
            if simulated(source):  # one generated day: its rows, clock and record in one unit
                following = source.next_day(store)  # the generator's run, outside the transaction (cached)
                if following is not None and following != day:
                    raise KstockError(f"합성 시장의 다음 날은 {following}입니다 ({day}가 아님)")
                with store.transaction():
                    return _update_and_record(services, source, day, run_id, progress, clock_day)
            return _update_and_record(services, source, day, run_id, progress, clock_day)
    except Exception as exc:
        return StepResult(UPDATE, day, "failed", failure_reason(exc))


def _already_stored(services: Services, source: DataSource, day: str) -> bool:
    """The day's data is in the store; for the synthetic market, its clock has also reached the day (a store
    an older kstock left with the rows of a day its clock never reached is moved on by the update)."""
    store = services.store
    if simulated(source) and synthetic_spec(store) is not None and not source.revealed(store, day):
        return False
    return not freshness(services, day).stale


def _update_and_record(services: Services, source: DataSource, day: str, run_id: int, progress: bool,
                       clock_day: str | None) -> StepResult:
    """Fetch, then close the run with what the store now holds (inside the caller's transaction, if any)."""
    store = services.store
    report = source.update(store, progress=progress)
    fresh = freshness(services, day)
    metrics = {"source": source.name, "rows_changed": report.rows_changed, "data_date": fresh.data_date,
               "behind": fresh.behind, "clock_day": clock_day}
    if not report.ok:
        runs.finish_run(store, run_id, "failed", metrics, report.message)
        return StepResult(UPDATE, day, "failed", report.message, metrics)
    status = "stale" if fresh.stale else "ok"
    runs.finish_run(store, run_id, status, metrics, None if status == "ok" else f"갱신 후에도 {day} 데이터가 없습니다")
    return StepResult(UPDATE, day, status, report.message, metrics)


def score_step(services: Services, day: str, *, top: int = 10,
               clock_day: str | None = None) -> tuple[StepResult, ScoringReport | None]:
    """Score the day once, if its data is in the store; otherwise record the day as stale (no book).

    ``clock_day`` is recorded as in :func:`update_step`.
    """
    store = services.store
    done = runs.run_for_day(store, SCORE, day)
    if done is not None and done.status == "ok":
        return StepResult(SCORE, day, "done", "이미 채점됨", done.metrics), None
    fresh = freshness(services, day)
    if fresh.stale:
        metrics, reason = stale_record(services, day, fresh)  # with the day's coverage when it came in part
        record_run(services, SCORE, day, "stale", metrics, reason)
        return StepResult(SCORE, day, "stale", reason, metrics), None
    recorded: dict[str, Any] = {}
    with recorded_run(services, SCORE, day, "market scoring") as run_id:

        def record(metrics: dict[str, Any]) -> None:  # inside the transaction that stores the day's book
            recorded.update(metrics, clock_day=clock_day)
            runs.finish_run(store, run_id, "ok", recorded)

        report = score_market(services, day, top=top, record=record)
    return StepResult(SCORE, day, "ok", f"{report.scored}종목 채점", recorded), report


def score_now(services: Services, date: str | None = None, *, top: int = 10,
              wait: float | None = None) -> ScoringReport:
    """A scoring asked for by hand (`kstock score`, admin /score): the given or last stored day, recorded.

    Scoring the last stored day while the data is behind the source's clock, or a past day, is allowed (an
    admin may want to see it) but the book is stored as stale — not published — so it is never pushed, counted
    as a live call or carried as holdings. Only the source's current trading day is published by hand.

    ``wait`` bounds the waits before any work — for another loop and for a store another writer holds — so an
    admin's /score answers within the chat's short wait (default: the loop lock's and the store's own).
    """
    with loop_lock(services.store.path, wait=wait):
        return _score_now(services, date, top, wait)


def _score_now(services: Services, date: str | None, top: int, wait: float | None = None) -> ScoringReport:
    store = services.store
    stale = _hand_scored_stale(services, date)
    with recorded_run(services, SCORE, date, wait=wait) as run_id:

        def record(metrics: dict[str, Any]) -> None:  # inside the transaction that stores the day's book
            runs.set_run_day(store, run_id, metrics["date"])
            runs.finish_run(store, run_id, "ok" if not stale else "stale", {**metrics, "stale": stale})

        return score_market(services, date, top=top, stale=stale, record=record)


def _hand_scored_stale(services: Services, date: str | None) -> bool:
    """Whether a scoring by hand is stored as not published: the data is behind the source's current trading
    day, or ``date`` is another day — a past day's book reached nobody then, so it must not enter the ledger
    or the holdings later books carry (DESIGN §7). A day already published keeps its book (save_scoring)."""
    fresh = freshness(services)
    if date is None:
        return fresh.stale
    return fresh.stale or iso(day_int(date)) != fresh.today


def run_daily(services: Services, source: DataSource | None = None, *, now: dt.datetime | None = None,
              progress: bool = False, top: int = 10) -> DailyReport:
    """Update, then score — each once for the day, the second only after the first succeeded; under the
    store's loop lock (:class:`~kstock.service.loop_lock.LoopBusyError` when another loop holds it)."""
    with loop_lock(services.store.path):
        return _run_daily(services, source, now, progress, top)


def update_today(services: Services, source: DataSource | None = None, now: dt.datetime | None = None, *,
                 clock_day: str | None = None) -> tuple[str, StepResult] | None:
    """The bot's update job: the loop's day and its update, under the store's loop lock. None when the
    simulated market already moved on the calendar day ``clock_day`` (one day per calendar day in the bot)."""
    source = source or services.data_source()
    if clock_day is not None and simulated(source) and loop_ran_on(services, clock_day):
        return None
    with loop_lock(services.store.path):
        day = loop_day(services, source, now)
        return day, update_step(services, day, source, clock_day=clock_day)


def score_today(services: Services, now: dt.datetime | None = None, *, clock_day: str | None = None,
                top: int = 10) -> tuple[str, StepResult, StepResult, ScoringReport | None]:
    """The bot's scoring job: the source's day, its update if still missing, then its scoring — under the
    store's loop lock. Returns (day, update, scoring step, report)."""
    with loop_lock(services.store.path):
        day = services.today(now).isoformat()
        update = update_step(services, day)
        step, report = score_step(services, day, top=top, clock_day=clock_day)
    return day, update, step, report


def _run_daily(services: Services, source: DataSource | None, now: dt.datetime | None, progress: bool,
               top: int) -> DailyReport:
    source = source or services.data_source()
    day = loop_day(services, source, now)
    update = update_step(services, day, source, progress=progress)
    report = DailyReport(day, [update])
    if update.status in ("failed",):
        report.freshness = freshness(services, day)
        report.steps.append(StepResult(SCORE, day, "skipped", "데이터 갱신 실패"))
        _record_stale_score(services, day, report.freshness)
        return report
    score, scoring = score_step(services, day, top=top)
    report.steps.append(score)
    report.freshness = freshness(services, day)
    report.scoring = scoring
    return report


def _record_stale_score(services: Services, day: str, fresh: Freshness) -> None:
    """A failed update leaves the day stale: say so in the scoring's record too (for /status and the push)."""
    done = runs.run_for_day(services.store, SCORE, day)
    if done is not None and done.status == "ok":
        return
    metrics = {"data_date": fresh.data_date, "behind": fresh.behind}
    record_run(services, SCORE, day, "stale", metrics, "데이터 갱신 실패")


def loop_ran_on(services: Services, clock_day: str) -> bool:
    """Whether the bot's loop already updated or scored on the calendar day ``clock_day`` (KST, ISO)."""
    return any(run.status == "ok" and run.metrics.get("clock_day") == clock_day
               for job in (UPDATE, SCORE) for run in runs.last_runs(services.store, limit=5, job=job))


def step_status(services: Services, step: str, day: str) -> str | None:
    """The latest recorded status of ``step`` for ``day`` (None when it never ran)."""
    run = runs.run_for_day(services.store, step, day)
    return run.status if run else None


__all__ = ["DailyReport", "Freshness", "StepResult", "failure_reason", "freshness", "loop_day", "loop_ran_on",
           "record_run", "recorded_run", "run_daily", "score_now", "score_step", "score_today", "simulated",
           "source_from_settings", "step_status", "update_step", "update_today"]
