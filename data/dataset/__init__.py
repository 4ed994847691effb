"""The embedded dataset: its offline build from real sources and sample data (`build`) and the read-only DuckDB store the pages read (`store`)."""
