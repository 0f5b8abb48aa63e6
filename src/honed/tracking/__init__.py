"""Typed events, the run store and MLflow tracking."""
