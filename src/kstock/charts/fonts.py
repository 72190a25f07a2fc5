"""Fonts for the pictures users see: a Hangul font when one is installed, and titles that stay readable without one.

Korean text needs a font with Hangul glyphs. :func:`hangul_font` looks for one matplotlib knows
(NanumGothic, Noto Sans CJK KR, Malgun Gothic, AppleGothic, … or any installed font that has the
glyphs), after registering the NanumGothic files the ``koreanize-matplotlib`` wheel ships. Without one,
Hangul is dropped from a title (the code stays: "삼성전자 (005930)" → "(005930)") instead of being drawn
as empty boxes with a warning per character. To get Korean titles on Debian/Ubuntu::

    apt-get install fonts-nanum      # or fonts-noto-cjk
    rm -rf ~/.cache/matplotlib       # matplotlib caches the font list; let it rebuild
"""

from __future__ import annotations

import re
from functools import lru_cache

_PREFERRED_FONTS = (
    "NanumGothic",
    "NanumBarunGothic",
    "Noto Sans CJK KR",
    "Noto Sans KR",
    "Source Han Sans KR",
    "Malgun Gothic",
    "AppleGothic",
    "Apple SD Gothic Neo",
    "UnDotum",
    "Baekmuk Gulim",
)


@lru_cache(maxsize=1)
def hangul_font() -> str | None:
    """Name of an installed font that can draw Hangul, or None; looked up once per process."""
    from matplotlib import font_manager

    _register_bundled_fonts(font_manager)
    fonts = [f for f in font_manager.fontManager.ttflist if not f.name.startswith("Last Resort")]
    by_name = {f.name: f for f in fonts}
    for name in _PREFERRED_FONTS:
        if name in by_name:
            return name
    for font in fonts:  # any other font that has the glyphs (e.g. a distribution's CJK font)
        if _has_glyph(font.fname, "한"):
            return font.name
    return None


def _register_bundled_fonts(font_manager: object) -> None:
    """Add the NanumGothic files shipped by the ``koreanize-matplotlib`` wheel (a dependency), if present.

    Registered by path instead of importing that package, which would also rewrite global rcParams.
    """
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("koreanize_matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in sorted(Path(next(iter(spec.submodule_search_locations)), "fonts").glob("*.ttf")):
        if str(path) not in known:
            font_manager.fontManager.addfont(str(path))


def displayable(text: str) -> str:
    """``text`` as the chart can draw it: unchanged with a Hangul font, Hangul dropped without one."""
    if hangul_font() is not None or text.isascii():
        return text
    kept = "".join(ch for ch in text if ch.isascii() or _is_symbol(ch))
    kept = re.sub(r"\(\s*\)|\[\s*\]", "", kept)
    return re.sub(r"\s+", " ", kept).strip(" -–—·") or "chart"


def _has_glyph(path: str, char: str) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        return FT2Font(path).get_char_index(ord(char)) != 0
    except (OSError, RuntimeError, ValueError):
        return False


def _is_symbol(ch: str) -> bool:
    """Arrows, shapes and dashes that DejaVu Sans (matplotlib's own font) draws."""
    return "\u2010" <= ch <= "\u2027" or "\u2190" <= ch <= "\u21ff" or "\u25a0" <= ch <= "\u25ff"


def family() -> list[str]:
    """matplotlib's font family list: the Hangul font first when there is one, DejaVu Sans for the rest."""
    font = hangul_font()
    return [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
