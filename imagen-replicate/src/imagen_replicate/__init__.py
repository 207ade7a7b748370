"""imagen plugin for replicate (hookimpls only; heavy parts load lazily)."""
