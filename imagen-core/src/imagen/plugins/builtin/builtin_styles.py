"""The built-in style presets (styles.yaml), registered like any plugin's styles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    from imagen.plugins.registry import StyleRegister


@hookimpl
def register_styles(register: StyleRegister) -> None:
    from imagen.config import yamlio
    from imagen.styles import builtin_styles_text

    for name, preset in yamlio.plain(yamlio.parse(builtin_styles_text())).items():
        register(
            name,
            preset["prompt"],
            negative=preset.get("negative"),
            aspect_ratio=preset.get("aspect_ratio"),
            size=preset.get("size"),
            steps=preset.get("steps"),
            description=preset.get("description", ""),
        )
