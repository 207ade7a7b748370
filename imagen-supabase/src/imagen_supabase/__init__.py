"""imagen plugin for supabase (hookimpls only; heavy parts load lazily)."""
