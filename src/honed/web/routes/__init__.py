"""The dashboard's pages, one module per area: runs (and compare), registry, production."""
