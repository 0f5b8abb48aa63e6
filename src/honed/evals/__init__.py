"""Scorers behind one protocol (``evals.base.Scorer``) and the built-in catalogue."""
