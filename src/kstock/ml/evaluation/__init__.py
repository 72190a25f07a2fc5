"""Evaluation the way DESIGN §4 asks for it: cross-sectional metrics (IC, Rank IC, hit rate, AUC,
macro-F1 against the HOLD-majority baseline) and a daily top-k backtest that trades only what a
subscriber could have traded — at the next morning's open, net of KRX costs, liquid names only.
"""
