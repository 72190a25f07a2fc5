"""Features computed from the market panel: tabular, sequences, sector windows and chart images."""
