"""The README and .env.example document every setting, so an operator never meets an unexplained variable; the
README stays a page a newcomer reads in five minutes, and its figures live in docs/ (linked, not copied)."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from kstock.config import Settings

REPO = Path(__file__).resolve().parents[1]
VARIABLES = [f.metadata["env"] for f in fields(Settings)]
README_MAX_LINES = 250
#: The README's sections, in order: what a newcomer needs to run kstock and keep it running.
SECTIONS = ["Two commands", "Quick start with real data", "What counts as a published day", "Deploy",
            "Back up and restore", "Configuration", "Commands", "Job schedule", "How good is it", "Troubleshooting"]
DOCS = ["docs/models.md", "docs/benchmarks.md", "docs/architecture.md", "docs/operations.md", "docs/bot.md"]


def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("document", ["README.md", ".env.example"])
def test_every_setting_is_documented(document: str) -> None:
    text = (REPO / document).read_text(encoding="utf-8")
    missing = [name for name in VARIABLES if f"{name}" not in text]
    assert not missing, f"{document} does not mention {missing}"


def test_readme_starts_with_the_two_commands() -> None:
    first_section = _readme().split("\n## ", 2)[1]
    assert first_section.startswith("Two commands") and "make demo" in first_section and "make test" in first_section


def test_readme_is_short_and_has_the_sections_a_newcomer_needs() -> None:
    text = _readme()
    assert len(text.splitlines()) <= README_MAX_LINES
    assert re.findall(r"^## (.+)$", text, flags=re.M) == SECTIONS
    assert "probability behind it" not in text  # the call comes with its band's headline number, not a P(up)


def test_readme_links_resolve_and_every_doc_is_linked() -> None:
    text = _readme()
    links = {target.split("#")[0] for target in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in target}
    assert all((REPO / link).exists() for link in links), [link for link in links if not (REPO / link).exists()]
    assert set(DOCS) <= links


def test_the_benchmark_table_lives_in_docs() -> None:
    """`make bench` rewrites the table between these markers; the README links to it."""
    bench = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert "<!-- bench:start -->" in bench and "<!-- bench:end -->" in bench
    assert "<!-- bench:start -->" not in _readme()


def test_the_quick_start_sets_the_data_source_it_imports() -> None:
    """Importing real CSVs while the source stays `synthetic` makes `data update` and `kstock daily` fail."""
    quick = _readme().split("## Quick start with real data", 1)[1].split("\n## ", 1)[0]
    assert "KSTOCK_DATA_SOURCE=csv" in quick and "KSTOCK_CSV_DIR=../shared/data/krx/kospi_2020_2026" in quick
    assert quick.index("KSTOCK_DATA_SOURCE=csv") < quick.index("kstock data update")
