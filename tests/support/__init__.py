"""Helpers shared by the test modules (and the fake Bot API the bot benchmarks use); not test modules.

Pytest puts ``tests/`` on ``sys.path`` (no ``tests/__init__.py``, the default ``prepend`` import mode), so
test modules import ``support.bot_env``, ``support.faults``, ``support.fake_telegram`` …; the benchmarks
add ``tests/`` to ``sys.path`` themselves. Nothing here is packaged: the wheel is built from ``src/`` only.
"""
