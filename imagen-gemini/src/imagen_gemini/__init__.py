"""imagen plugin for gemini (hookimpls only; heavy parts load lazily)."""
