"""Features, the leakage guard, candidate models, training, bands, metrics, evaluation, the model bundle."""
