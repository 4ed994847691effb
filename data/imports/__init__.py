"""Users' imports and exports: file readers (CSV/GBK, Excel, GeoJSON, Shapefile), field mapping, validation with row-level reasons, commit into the workspace, exports and templates."""
