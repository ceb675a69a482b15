"""play feature."""
