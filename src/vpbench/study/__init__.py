"""The study: schema validation, the cell grid, packs and paths."""
