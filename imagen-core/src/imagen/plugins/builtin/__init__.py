"""imagen's own parts, registered through the same hooks as any plugin."""
