"""The language scan: English words a person would read, once code, names and a short allow-list are taken out.

Identifiers (commands, variables, paths, model names) are written as code — ``<code>`` in the chat, backticks
on the command line — and are skipped; so are ``--options``, file paths, ``/commands``, stock names and the
names Korean investors read as they are (an HTS shows KOSPI, ETF, RSI the same way)."""

from __future__ import annotations

import html
import re

#: Market, instrument, model and indicator names, the call tag, and metric abbreviations of the evaluation.
ALLOWED_ENGLISH = frozenset({
    "KOSPI", "KOSDAQ", "KRX", "ETF", "ETN", "REIT", "SPAC", "LightGBM", "XGBoost", "LSTM", "CNN", "SHAP",
    "TreeSHAP", "BUY", "HOLD", "SELL", "RSI", "MACD", "ATR", "AUC", "IC", "ICIR", "CAGR", "MDD", "KST", "CSV",
    "SQLite", "WAL", "PNG", "GPU", "CPU", "Optuna", "KSIC", "WICS", "UTC", "MB", "GB", "ID", "Telegram",
    "D", "macro", "F",
})
#: On the command line and in admins' messages: the program's name and the model kinds, identifiers that
#: lead a line of progress (``trees: 학습 기간 …``) as the program's name leads an error.
ALLOWED_IDENTIFIERS = frozenset({"kstock", "trees", "lstm", "sector", "ensemble", "all"})
_CODE = re.compile(r"<code>.*?</code>|<pre>.*?</pre>|`[^`\n]*`", re.S)
#: what a person typed, echoed back in quotes, and date formats (YYYY-MM-DD)
_ECHO = re.compile(r"'[^'\n]*'|\bYYYY-?MM-?DD\b")
_TAG = re.compile(r"<[^>]+>")
#: /commands, --options, paths and file names (a slash or a dotted extension), URLs, model version ids
_TOKENS = re.compile(r"https?://\S+|(?<![\w가-힣])/[a-z_]+\b|--[a-z][a-z-]*|\S*/\S*|\b[\w-]+\.(?:csv|db|npz|png|json|"
                     r"py|env|lock|txt)\b|\b[a-z]+-\d{8}[-\w]*")


def english_words(text: str, names: list[str] = (), identifiers: frozenset[str] = ALLOWED_IDENTIFIERS) -> list[str]:
    """English words left in ``text`` once code spans, tags, commands, paths, echoed input, ``names``, the
    allowed names and ``identifiers`` are taken out."""
    plain = _ECHO.sub(" ", _TAG.sub("", _CODE.sub(" ", text)))
    plain = _TOKENS.sub(" ", html.unescape(plain))
    for name in sorted(names, key=len, reverse=True):
        plain = plain.replace(name, " ")
    return [w for w in re.findall(r"[A-Za-z]+", plain) if w not in ALLOWED_ENGLISH and w not in identifiers]
