"""Drift statistics, the reference profile, windows, the rules that give verdicts, the drift run and its report names."""
