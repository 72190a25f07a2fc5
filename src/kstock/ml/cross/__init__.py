"""The cross-sectional transformer: each day's stocks attend to each other (issue 27, "sector-aware means it
sees its peers"). Numpy side in :mod:`.data`, torch in :mod:`.net`, the served model in :mod:`.predictor`."""

from kstock.ml.cross.data import CrossParams

__all__ = ["CrossParams"]
