"""Pure map-layer builders: GeoDataFrame in, pydeck layer out; colours, legends, tooltips, labels."""
