"""Search strategies that propose candidates and spend a Budget through the engine."""
