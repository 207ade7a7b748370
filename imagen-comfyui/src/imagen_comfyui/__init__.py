"""imagen plugin for comfyui (hookimpls only; heavy parts load lazily)."""
