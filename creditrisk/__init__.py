"""Credit-risk prediction: data contract, sample export, pipeline logic, drift statistics."""

__version__ = "1.2.0"
