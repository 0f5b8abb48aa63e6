"""Task, datasets, prompt templates and config loading (the only YAML parser)."""
