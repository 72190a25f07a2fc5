"""kstock — a Telegram trading assistant for the Korean stock market (KOSPI/KOSDAQ).

Importing the package is cheap and never needs torch: heavy modules (models, bot) are imported
where they are used.
"""

__version__ = "0.1.0"
