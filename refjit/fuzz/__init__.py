"""Differential fuzzing of refjit: random well-formed traces (generate), their hypothesis
strategies (strategies), and campaigns that shrink and save every disagreement (campaign)."""
