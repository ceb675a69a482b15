"""competitions feature."""
