"""The store's versioned schema. Append a migration to change it; never edit a released one.

``PRAGMA user_version`` holds the version a file is at; opening a store applies the missing steps in
one transaction each, so a file from any earlier kstock opens with the current code.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE tickers (
            code TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            name_en TEXT,
            market TEXT NOT NULL,
            kind TEXT NOT NULL,
            sector_id INTEGER,
            industry TEXT,
            listing_date TEXT,
            delisting_date TEXT
        );
        CREATE INDEX tickers_name ON tickers(name);
        -- date is yyyymmdd; halt rows keep the carried close with open/high/low NULL and halted = 1
        CREATE TABLE prices (
            code TEXT NOT NULL,
            date INTEGER NOT NULL,
            open REAL,
            high REAL,
            low REAL,
            close REAL NOT NULL,
            volume REAL NOT NULL,
            halted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (code, date)
        ) WITHOUT ROWID;
        CREATE TABLE index_prices (
            name TEXT NOT NULL,
            date INTEGER NOT NULL,
            open REAL,
            high REAL,
            low REAL,
            close REAL NOT NULL,
            PRIMARY KEY (name, date)
        ) WITHOUT ROWID;
        CREATE TABLE data_updates (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            rows_changed INTEGER NOT NULL,
            status TEXT NOT NULL,
            message TEXT
        );
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        """,
    ),
    (
        2,
        """
        CREATE TABLE predictions (
            date INTEGER NOT NULL,
            code TEXT NOT NULL,
            model TEXT NOT NULL,
            model_version TEXT,
            probability REAL,
            score REAL,
            label TEXT,
            details TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (date, code, model)
        );
        CREATE TABLE signals (
            date INTEGER NOT NULL,
            code TEXT NOT NULL,
            label TEXT NOT NULL,
            probability REAL,
            score REAL,
            rank INTEGER,
            details TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (date, code)
        );
        CREATE TABLE subscriptions (
            chat_id INTEGER PRIMARY KEY,
            user_id INTEGER,
            subscribed_at TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            reason TEXT
        );
        CREATE TABLE push_log (
            date INTEGER NOT NULL,
            chat_id INTEGER NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            sent_at TEXT NOT NULL,
            PRIMARY KEY (date, chat_id, kind)
        );
        CREATE TABLE job_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            metrics TEXT,
            error TEXT
        );
        CREATE INDEX job_runs_job ON job_runs(job, started_at);
        """,
    ),
    (
        3,
        """
        -- the trading day a run of the daily loop was for (yyyymmdd), so each step runs once per day
        ALTER TABLE job_runs ADD COLUMN day INTEGER;
        CREATE INDEX job_runs_day ON job_runs(job, day);
        -- one row per scored day: what the day's book was computed from and whether the data was current
        CREATE TABLE publications (
            date INTEGER PRIMARY KEY,
            data_date INTEGER NOT NULL,
            stale INTEGER NOT NULL,
            versions TEXT,
            created_at TEXT NOT NULL
        );
        -- the day's book as published: BUY = the holdings of the followable book after the day's trades
        -- (entry: new = bought at the next open, kept = held on for another horizon, held = earlier tranche),
        -- EXIT = sold at the next open, SELL = the weakest scored names (a warning for holders)
        CREATE TABLE book (
            date INTEGER NOT NULL,
            side TEXT NOT NULL,
            code TEXT NOT NULL,
            rank INTEGER NOT NULL,
            entry TEXT,
            entry_date INTEGER,  -- the decision day the current holding started (BUY, EXIT)
            score REAL,
            traded_value_20d REAL,
            close REAL,
            expected_excess REAL,  -- the headline: what the name's score band meant out of sample
            hit_rate REAL,
            samples INTEGER,
            PRIMARY KEY (date, side, code)
        );
        """,
    ),
    (
        4,
        """
        -- run ownership: only a run whose owner is really gone (same host and pid not alive, or no
        -- heartbeat for a while) may be marked interrupted by another process
        ALTER TABLE job_runs ADD COLUMN host TEXT;
        ALTER TABLE job_runs ADD COLUMN pid INTEGER;
        ALTER TABLE job_runs ADD COLUMN heartbeat_at TEXT;
        """,
    ),
    (
        5,
        """
        -- /watch: the stocks a chat follows; their call changes are sent once a day (push_log kind 'watch')
        CREATE TABLE watchlist (
            chat_id INTEGER NOT NULL,
            code TEXT NOT NULL,
            user_id INTEGER,
            added_at TEXT NOT NULL,
            PRIMARY KEY (chat_id, code)
        ) WITHOUT ROWID;
        """,
    ),
    (
        6,
        """
        -- the day a held name was first bought (a kept name keeps it; entry_date restarts with each keep),
        -- so a line never shows a name held for a horizon with today's date
        ALTER TABLE book ADD COLUMN bought_on INTEGER;
        -- what a published book says besides its names (JSON): the days skipped since the last published
        -- book, and why it has no 매수 basket when it has none
        ALTER TABLE publications ADD COLUMN notes TEXT;
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1][0]
