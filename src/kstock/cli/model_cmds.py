"""`kstock train|tune|evaluate|analyze|models|score`: the model commands (filled in by the ML issues)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Model commands register here as they land."""
