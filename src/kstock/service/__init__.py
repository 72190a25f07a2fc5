"""The service layer: the one place behaviour lives. The bot handlers, the scheduled jobs and the CLI
all call these functions (analyze, score_market, signals, retrain, evaluate, status) and only format
the results."""
