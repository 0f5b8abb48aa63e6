"""Evaluation engine: concurrency, response cache, retries, budget and aggregates."""
