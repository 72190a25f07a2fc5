"""Market data: the SQLite store, its sources (pykrx, CSV, synthetic), universe, sectors, calendar."""
