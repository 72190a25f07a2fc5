"""Building and running the bot: ``build_application`` (used by tests and the benchmark) and ``run_bot``
(``kstock bot``).

Start-up order in :func:`run_bot`: validate the token's shape (a clear message, never the token) →
redact it from every log line → take the single-instance lock → open the services → build the
application (handlers, jobs) → ``run_polling`` (or ``run_webhook``). In ``post_init``: runs left
"running" by a killed process are marked interrupted, the command menu is registered with
setMyCommands, chart workers start, the data/model caches warm in the background and a scoring or
push missed while down is caught up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import logging
import os
import secrets
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError
from telegram.ext import Application, ContextTypes

from kstock.bot import leftovers
from kstock.bot.chart_predraw import cancel_predraws
from kstock.bot.handlers import CONFLICT_STOP, register_handlers
from kstock.bot.jobs import schedule_jobs, startup_catch_up_job
from kstock.bot.menus import register_menus
from kstock.bot.runtime import BotRuntime
from kstock.bot.security import REDACTOR, InstanceLock, install_log_redaction, lock_path
from kstock.bot.stopping import abandoned_work, exit_now, install_stop_signals
from kstock.config import Settings, SettingsError, check_model_dir, validate_token
from kstock.errors import KstockError
from kstock.market.types import InstrumentKind
from kstock.service import runs
from kstock.service.analyze import analyze
from kstock.service.context import Services
from kstock.service.leftovers import clean_temp_files
from kstock.service.predict import NoModelError, predict_day

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


def api_urls(settings: Settings) -> tuple[str, str]:
    """(base_url, base_file_url) for PTB from TELEGRAM_API_BASE_URL (``…/bot`` → ``…/file/bot``)."""
    base = settings.telegram_api_base_url.rstrip("/")
    if not base.endswith("/bot"):
        raise SettingsError("`TELEGRAM_API_BASE_URL`은 `/bot`으로 끝나야 합니다 (예: `https://api.telegram.org/bot`)")
    return base, base[: -len("/bot")] + "/file/bot"


def build_application(settings: Settings, services: Services, *, runtime: BotRuntime | None = None,
                      chart_workers: int = 1, clock: Any = None, **runtime_options: Any) -> Application:
    """The configured Application: handlers, jobs, start-up and shutdown hooks; nothing started yet."""
    token = validate_token(settings.telegram_bot_token)
    install_log_redaction(token)
    rt = runtime or BotRuntime.create(settings, services, chart_workers=chart_workers, clock=clock,
                                      **runtime_options)
    base_url, base_file_url = api_urls(settings)
    app = (
        Application.builder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        .concurrent_updates(True)  # one slow /analyze or /retrain never holds up other users
        .connect_timeout(10.0)
        .read_timeout(20.0)
        .write_timeout(30.0)
        .pool_timeout(10.0)
        .post_init(on_startup)
        .post_shutdown(on_shutdown)
        .build()
    )
    app.bot_data["runtime"] = rt
    register_handlers(app)
    schedule_jobs(app, rt)
    return app


async def on_startup(app: Application) -> None:
    rt: BotRuntime = app.bot_data["runtime"]
    try:  # off the loop: a store locked by another writer delays only this
        interrupted, stale = await rt.run_store(_recover, rt)
    except KstockError as exc:
        log.warning("start-up clean-up skipped: %s", exc)
        interrupted, stale = 0, []
    if interrupted:
        log.warning("%d job run(s) left 'running' by a stopped process were marked interrupted", interrupted)
    await leftovers.repair_progress_messages(rt.delivery, app.bot, stale)
    await register_menus(app.bot, rt.settings.admin_ids)  # /retrain and /score only in admins' chats
    rt.charts.start()
    if app.job_queue is not None:
        if rt.warm_up_on_start:
            app.job_queue.run_once(warm_up_job, when=0.0, name="warm_up")
        app.job_queue.run_once(startup_catch_up_job, when=dt.timedelta(seconds=1), name="catch_up")
    log.info("kstock bot @%s started (%d admins, allow-list %s)", app.bot.username, len(rt.settings.admin_ids),
             "on" if rt.settings.allowed_chat_ids else "off")


def _recover(rt: BotRuntime) -> tuple[int, list[tuple[int, int]]]:
    """What a killed bot left: runs of gone processes, temporary model folders, stale progress messages."""
    leftovers.clean_model_leftovers(rt.services.registry)
    clean_temp_files(rt.settings)  # and the caches' temporary files beside the store
    return runs.mark_interrupted(rt.services.store), leftovers.stale_progress(rt.services.store)


async def on_shutdown(app: Application) -> None:
    rt: BotRuntime | None = app.bot_data.get("runtime")
    await cancel_predraws()
    if rt is not None:
        rt.close()


def warm_up(services: Services) -> None:
    """Compute features, the last day's predictions and one full analysis (SHAP included) once, so the
    first /analyze is as fast as the next."""
    data = services.model_data()
    services.ticker_index()
    try:
        predict_day(services, len(data.dates) - 1)
    except NoModelError:
        log.warning("no trained model yet: /analyze will say so until an admin runs /retrain trees")
        return
    for ticker in services.store.tickers()[:50]:
        if ticker.kind == InstrumentKind.COMMON and not ticker.delisting_date and ticker.code in data.panel.codes:
            with contextlib.suppress(KstockError):
                analyze(services, ticker.code)
                break


async def warm_up_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    rt: BotRuntime = context.application.bot_data["runtime"]
    try:
        await rt.run_heavy(warm_up, rt.services)
        await rt.run_light(lambda: None)  # start the /analyze threads now, not on the first request
    except KstockError as exc:
        log.warning("warm-up: %s", exc)
    except Exception:
        log.exception("warm-up failed (the bot keeps running; /analyze computes on demand)")
    # Everything loaded so far (libraries, features, models) lives as long as the process: keep it out of
    # the cyclic GC's full collections, which otherwise stall every request for ~100–300 ms now and then.
    gc.collect()
    gc.freeze()
    rt.warmed.set()


def run_bot(settings: Settings, *, webhook_url: str | None = None, listen: str = "0.0.0.0", port: int = 8443,
            chart_workers: int = 1) -> None:
    """``kstock bot``: run until interrupted. Raises KstockError with a clear message on a bad setup."""
    token = validate_token(settings.telegram_bot_token)
    install_log_redaction(token)
    os.environ.setdefault("PTB_TIMEDELTA", "1")  # RetryAfter.retry_after as timedelta, without warnings
    if webhook_url is not None:
        _check_webhook(webhook_url)
    lock = InstanceLock(lock_path(settings, token)).acquire()
    quiet = _QuietRejectedToken()
    for name in _PTB_LOGGERS:  # the clean error below says it all: no 40-line library traceback first
        logging.getLogger(name).addFilter(quiet)
    app: Application | None = None
    abandoned = False
    try:
        check_model_dir(settings)
        services = Services(settings)
        try:
            app = build_application(settings, services, chart_workers=chart_workers)
            install_stop_signals(app)  # SIGINT/SIGTERM stop the bot within seconds, even during a retrain
            if webhook_url is None:
                log.info("polling Telegram for updates")
                app.run_polling(allowed_updates=ALLOWED_UPDATES, drop_pending_updates=False, stop_signals=None)
                if app.bot_data.get(CONFLICT_STOP):
                    raise KstockError(
                        f"텔레그램이 409 Conflict를 {app.bot_data[CONFLICT_STOP]}번 연달아 답했습니다: "
                        "다른 프로세스가 이 봇 토큰으로 업데이트를 받고 있습니다 (다른 컴퓨터, 또는 설정된 웹훅). "
                        "다투지 않고 멈췄습니다; 다른 쪽을 멈추거나 (`deleteWebhook`) 다시 시작하세요")
            else:
                path = urlsplit(webhook_url).path.lstrip("/")
                log.info("listening for webhook updates on %s:%d/%s", listen, port, path)
                app.run_webhook(listen=listen, port=port, url_path=path, webhook_url=webhook_url,
                                secret_token=secrets.token_urlsafe(32), allowed_updates=ALLOWED_UPDATES,
                                stop_signals=None)
        except InvalidToken:
            raise KstockError("텔레그램이 `TELEGRAM_BOT_TOKEN`을 거부했습니다 (401 Unauthorized): "
                              "@BotFather가 준 토큰을 확인하세요") from None
        except NetworkError as exc:
            raise KstockError(f"텔레그램 Bot API({api_urls(settings)[0]})에 연결할 수 없습니다: "
                              f"{REDACTOR.redact(str(exc))}") from None
        finally:
            abandoned = app is not None and abandoned_work(app)
            if not abandoned:  # a thread still writing keeps its connection: the process ends below without
                services.close()  # it, and SQLite's journal makes that as safe as a kill
    finally:
        for name in _PTB_LOGGERS:
            logging.getLogger(name).removeFilter(quiet)
        lock.release()
    if abandoned:  # a retrain thread still runs: do not wait for it at exit
        exit_now(0)


#: The loggers through which PTB reports a rejected token or a 409 (with the whole traceback) itself.
_PTB_LOGGERS = ("telegram.ext", "telegram.ext.Application", "telegram.ext.Updater")


class _QuietRejectedToken(logging.Filter):
    """Drops PTB's own log lines (and tracebacks) for a token Telegram rejected and for 409 Conflicts: run_bot
    ends with one clear line for each, and the 409s are counted and logged by the error handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, InvalidToken | Conflict) and "Invalid token" not in str(record.msg)


def _check_webhook(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc:
        raise KstockError(f"`--webhook` {url!r}: 텔레그램이 닿을 수 있는 공개 https:// 주소여야 합니다")
    try:
        import tornado  # noqa: F401
    except ImportError:
        raise KstockError("웹훅 모드에는 `python-telegram-bot[webhooks]`(tornado)가 필요합니다; "
                          "설치하거나 `--webhook` 없이 (롱 폴링으로) 실행하세요") from None
