"""Geospatial computation for the Yangtze River Delta coordination app (no Streamlit here)."""
