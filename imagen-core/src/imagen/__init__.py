"""imagen."""
