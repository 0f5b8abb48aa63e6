"""The command line: argument parsing and rendering only; no business logic."""
