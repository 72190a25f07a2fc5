"""The store's tables beyond market data, one small module per concern, each owning its SQL.

:class:`~kstock.market.store.MarketStore` creates the schema (``migrations``) and reads/writes the market
data (tickers, prices, indices); the app's own state (scored days, the book, job runs, subscriptions,
watchlists, notes) lives in tables these modules read and write. The service and bot layers call them
and never write SQL themselves (``tests/test_architecture.py`` checks). They return plain rows; the
services build their own types. Days are yyyymmdd integers, as stored.
"""
