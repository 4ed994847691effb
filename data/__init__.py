"""Dataset build, import/validation and the store (DuckDB) of the coordination app."""
