"""Stopping ``kstock bot`` on SIGINT/SIGTERM within seconds, even in the middle of a retrain.

PTB's own stop signals end the polling, then wait for every running handler — and an admin's ``/retrain``
handler waits for a training thread that runs for minutes; after that the interpreter would still join the
thread at exit. Here a signal first cancels every wait on heavy work (:meth:`BotRuntime.abort_heavy`: the
retrain's message says it stopped), then stops the application as PTB would. A training thread that is
still running is left behind: :func:`exit_now` ends the process without joining it, exactly as if it had
been killed — which every step is built to survive (the run is marked interrupted and the temporary model
folder removed at the next start; the serving model never changed). A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install_stop_signals(app: Any) -> asyncio.AbstractEventLoop:
    """A new event loop (the one ``run_polling`` then uses) whose SIGINT/SIGTERM handlers stop ``app`` as
    described above; pass ``stop_signals=None`` to ``run_polling`` so PTB installs none of its own."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    received: list[int] = []

    def on_signal(sig: signal.Signals) -> None:
        received.append(sig)
        if len(received) > 1:
            log.warning("%s 다시 받음: 지금 바로 종료합니다", sig.name)
            exit_now(128 + int(sig))
        log.warning("%s 받음: 봇을 멈춥니다 (진행 중인 재학습·채점은 중단되고 다음 시작 때 중단으로 기록됩니다)",
                    sig.name)
        runtime = app.bot_data.get("runtime")
        if runtime is not None:
            runtime.abort_heavy()
        raise SystemExit  # as PTB's own handler: run_polling then stops the updater and the application

    for sig in STOP_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal, sig)
    logging.getLogger(SCHEDULER_LOGGER).addFilter(CancelledJobLine())
    return loop


#: The logger through which APScheduler reports a job that raised (with its traceback).
SCHEDULER_LOGGER = "apscheduler.executors.default"


class CancelledJobLine(logging.Filter):
    """A job whose wait was cancelled because the bot is stopping is one line, not a CancelledError traceback
    (it is not a failure: its run is marked interrupted at the next start, as for a killed process)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], asyncio.CancelledError):
            record.msg, record.args = f"{record.getMessage()} — 봇 종료로 취소됨", ()
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def abandoned_work(app: Any) -> bool:
    """Whether heavy work or a request still runs in a thread after the application stopped."""
    runtime = app.bot_data.get("runtime")
    return bool(runtime is not None and runtime.threads_busy)


def exit_now(status: int = 0) -> None:
    """End the process without waiting for worker threads (a retrain cannot be interrupted inside a library):
    the logs are flushed first, the instance lock and the store are released by the kernel."""
    log.warning("진행 중이던 작업 스레드를 기다리지 않고 종료합니다")
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)
