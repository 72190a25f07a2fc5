"""The README and .env.example document every setting, so an operator never meets an unexplained variable."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from kstock.config import Settings

REPO = Path(__file__).resolve().parents[1]
VARIABLES = [f.metadata["env"] for f in fields(Settings)]


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    text = (REPO / document).read_text(encoding="utf-8")
    missing = [name for name in VARIABLES if f"{name}" not in text]
    assert not missing, f"{document} does not mention {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    first_section = text.split("\n## ", 2)[1]
    assert first_section.startswith("Two commands") and "make demo" in first_section and "make test" in first_section
