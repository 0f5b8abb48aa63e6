"""Release lifecycle: prompt registry, apply-to-file, quality gates, A/B statistics."""
