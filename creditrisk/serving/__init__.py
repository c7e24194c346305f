"""Scoring a batch with the model bundle, and the prediction log."""
