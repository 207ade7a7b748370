"""Style presets: a prompt template plus defaults, applied to a request before it runs."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from imagen.errors import ConfigError


@attrs.frozen
class Style:
    """A preset: ``prompt`` is a template containing ``{prompt}``; the rest are defaults."""

    name: str
    prompt: str = "{prompt}"
    negative: str | None = None
    aspect_ratio: str | None = None
    size: str | None = None
    steps: int | None = None
    description: str = ""
    source: str = "imagen-core"

    def render(self, prompt: str) -> str:
        # str.replace, not str.format: user prompts contain braces ("{a|b}" syntax) and must
        # never be interpreted.
        return self.prompt.replace("{prompt}", prompt)


def builtin_styles_text() -> str:
    from importlib.resources import files

    return files("imagen").joinpath("styles.yaml").read_text(encoding="utf-8")


def lookup(styles: Mapping[str, Style], name: str) -> Style:
    """The style called ``name``, or a ConfigError that lists the known ones."""
    try:
        return styles[name]
    except KeyError:
        known = ", ".join(sorted(styles)) or "none"
        raise ConfigError(
            f"unknown style {name!r}; known styles: {known} (see: imagen styles)"
        ) from None
