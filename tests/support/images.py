"""A synthetic OHLCV frame to draw and PNG checks (decode, colour present) for the chart tests."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def ohlcv_frame(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 50_000 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    open_ = close * np.exp(rng.normal(0, 0.01, n))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    index = pd.bdate_range("2024-01-02", periods=n)
    volume = rng.lognormal(13, 0.5, n)
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": volume}, index=index)


def decode(png: bytes) -> np.ndarray:
    import matplotlib.image

    assert png[:8] == PNG_MAGIC
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def has_color(img: np.ndarray, hex_color: str, tol: float = 0.08) -> bool:
    target = np.array([int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool((np.abs(img[..., :3] - target).max(axis=-1) < tol).any())
