"""Output naming: render ``output.naming`` templates into safe relative paths.

A template is text with named fields and Python format specs; ``/`` in the template text makes
sub-folders: ``{date}/{time}-{slug}-{seed}``. :meth:`NamingTemplate.parse` rejects what cannot
work at config load time; :meth:`NamingTemplate.render` never fails and always returns a safe
relative POSIX path without extension (SPEC 3.2): no empty, ``.`` or ``..`` component, no
control or ``<>:"\\|?*`` characters, no hidden or Windows-reserved names, and no component over
200 UTF-8 bytes (the last one is capped at 180 so a ``-99`` suffix and an extension still fit).
Field values never create folders: a ``/`` or ``\\`` inside a value becomes ``-``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import string
import unicodedata
from collections.abc import Collection, Mapping
from typing import Final

import attrs

from imagen.errors import ConfigError
from imagen.secrets import redact

TEXT_FIELDS: Final = frozenset(
    {"date", "time", "datetime", "slug", "backend", "model", "style", "hash"}
)
INT_FIELDS: Final = frozenset({"seed", "n", "count", "width", "height"})
BUILTIN_FIELDS: Final = TEXT_FIELDS | INT_FIELDS

DEFAULT_TEMPLATE: Final = "{date}/{time}-{slug}-{seed}"
MAX_COMPONENT_BYTES: Final = 200
# Room for a collision suffix (``-9999``) and an extension (``.jpeg``, ``.json``).
MAX_LAST_COMPONENT_BYTES: Final = 180
# A format width or precision beyond this could only produce names that get cut anyway, and a
# huge one (``{n:999999999}``) would allocate gigabytes while rendering.
_MAX_SPEC_NUMBER: Final = MAX_COMPONENT_BYTES

_PLACEHOLDERS: Final[Mapping[str, str]] = {"seed": "noseed", "style": "nostyle"}
_FORBIDDEN: Final = frozenset('<>:"|?*\\')
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_RESERVED: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789¹²³"}
)


@attrs.frozen
class _Part:
    literal: str
    field: str | None
    spec: str


@attrs.frozen
class NamingTemplate:
    """A parsed ``output.naming`` template; build one with :meth:`parse`."""

    text: str
    parts: tuple[_Part, ...] = attrs.field(repr=False)

    @classmethod
    def parse(cls, template: str, extra_fields: Collection[str] = ()) -> NamingTemplate:
        """Parse and check ``template``; raise ``ConfigError`` (message only) if it cannot work.

        ``extra_fields`` are the names plugins add; their values may be text or integers.
        """
        if not template.strip():
            raise _error("the naming template is empty; the default is {date}/{time}-{slug}-{seed}")
        known = BUILTIN_FIELDS | frozenset(extra_fields)
        try:
            pieces = list(string.Formatter().parse(template))
        except ValueError as error:
            raise _error(
                f"unbalanced braces in naming template {template!r} ({error}); "
                "write {{ or }} for a literal brace"
            ) from None
        parts = []
        for literal, field, spec, conversion in pieces:
            if field is not None:
                _check_field(field, spec or "", conversion, known)
            parts.append(_Part(literal, field, spec or ""))
        return cls(template, tuple(parts))

    def render(self, fields: Mapping[str, object]) -> str:
        """Render to a safe relative POSIX path without extension; deterministic, never fails."""
        text = "".join(
            part.literal.replace("\\", "_")
            + ("" if part.field is None else _render_value(part.field, part.spec, fields))
            for part in self.parts
        )
        components = [c for c in text.split("/") if c not in ("", ".", "..")]
        cleaned = [c for c in (_clean_component(c, MAX_COMPONENT_BYTES) for c in components) if c]
        while cleaned:
            last = _clean_component(cleaned[-1], MAX_LAST_COMPONENT_BYTES)
            if last:
                return "/".join([*cleaned[:-1], last])
            cleaned.pop()
        return "image"


def outside_output(template: str) -> str | None:
    """Why ``template`` would name files outside the output folder, or None if it would not.

    Only the template's own text can make folders (a ``/`` inside a field's value becomes
    ``-``), so the fields are left out. :meth:`NamingTemplate.render` drops such parts and stays
    inside the folder; this lets config validation say so rather than do it silently.
    """
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError:
        return None  # parse() reports unbalanced braces
    skeleton = "".join(
        literal + ("_" if field is not None else "") for literal, field, *_ in pieces
    )
    if skeleton.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", skeleton):
        reason = "it is an absolute path"
    elif skeleton.startswith("~"):
        reason = "it starts at the home folder"
    elif ".." in re.split(r"[/\\]", skeleton):
        reason = "it goes up with .."
    else:
        return None
    return (
        f"the naming template {template!r} would write outside the output folder ({reason}); "
        "names are relative to output.directory: write a relative template like "
        f"{DEFAULT_TEMPLATE}, and set output.directory to choose the folder"
    )


def _check_field(field: str, spec: str, conversion: str | None, known: frozenset[str]) -> None:
    if field == "" or field.isdigit():
        raise _error(
            "positional fields like {} or {0} are not allowed in the naming template; "
            "name a field such as {slug}"
        )
    if "." in field or "[" in field:
        raise _error(
            f"{{{field}}}: attribute or index access is not allowed in the naming template; "
            "use the plain field name"
        )
    if conversion is not None:
        raise _error(
            f"{{{field}!{conversion}}}: conversions are not allowed in the naming "
            f"template; write {{{field}}} or add a format spec after ':'"
        )
    if field not in known:
        raise _error(_unknown_field_message(field, known))
    if "{" in spec or "}" in spec:
        raise _error(f"{{{field}:{spec}}}: nested fields in a format spec are not allowed")
    for number in re.findall(r"[0-9]+", spec):
        if len(number.lstrip("0")) > 3 or int(number) > _MAX_SPEC_NUMBER:
            raise _error(
                f"{{{field}:{spec}}}: {number.lstrip('0')[:10]} is too large for a "
                f"file name (at most {_MAX_SPEC_NUMBER})"
            )
    samples: list[object] = (
        ["text"] if field in TEXT_FIELDS else [1] if field in INT_FIELDS else ["text", 1]
    )
    errors = []
    for sample in samples:
        try:
            format(sample, spec)
        except (ValueError, TypeError) as error:
            errors.append(str(error))
        else:
            return
    kind = "text" if field in TEXT_FIELDS else "an integer" if field in INT_FIELDS else "a value"
    raise _error(f"{{{field}:{spec}}}: bad format spec for {field}, which is {kind} ({errors[0]})")


def _unknown_field_message(field: str, known: frozenset[str]) -> str:
    names = sorted(known)
    close = difflib.get_close_matches(field.strip(), names, n=1)
    hint = f"did you mean {{{close[0]}}}? " if close else ""
    listed = ", ".join(f"{{{name}}}" for name in names)
    return f"unknown field {{{field}}} in the naming template; {hint}known fields: {listed}"


def _error(message: str) -> ConfigError:
    """A one-line ConfigError: control characters from the template are shown escaped, and a
    token pasted into the template is not shown at all."""
    shown = "".join(char if char.isprintable() else repr(char)[1:-1] for char in message)
    return ConfigError(redact(shown))


def _render_value(field: str, spec: str, fields: Mapping[str, object]) -> str:
    value = fields.get(field)
    if value is None or (field == "style" and value == ""):
        value = _PLACEHOLDERS.get(field, "none")
    try:
        text = format(value, spec)
    except (ValueError, TypeError, OverflowError):
        try:
            text = str(value)
        except ValueError:  # an int beyond Python's digit limit
            text = "none"
    return text.replace("/", "-").replace("\\", "-")


def _clean_component(component: str, limit: int) -> str:
    """Make one path component safe, or return "" when nothing usable is left."""
    chars = [
        "_" if char in _FORBIDDEN or unicodedata.category(char) in _UNSAFE_CATEGORIES else char
        for char in component
    ]
    text = "".join(chars)
    stripped = text.lstrip(".")
    text = "_" * (len(text) - len(stripped)) + stripped
    text = _cut_bytes(text, limit).rstrip(". ")
    stem, dot, rest = text.partition(".")
    if stem.rstrip(" ").upper() in _RESERVED:
        text = _cut_bytes(f"{stem}_{dot}{rest}", limit).rstrip(". ")
    return text


def _cut_bytes(text: str, limit: int) -> str:
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")


def slugify(prompt: str, max_length: int = 48) -> str:
    """Lower-case Unicode letters and digits joined by ``-``, at most ``max_length`` characters.

    Combining marks stay with the letter they follow, so scripts such as Devanagari keep their
    words whole. Never empty: a prompt without letters or digits gives ``image``.
    """
    text = unicodedata.normalize("NFKC", prompt).lower()
    out: list[str] = []
    for char in text:
        category = unicodedata.category(char)[0]
        if category in "LN" or (category == "M" and out and out[-1] != "-"):
            out.append(char)
        elif out and out[-1] != "-":
            out.append("-")
    slug = "".join(out).strip("-")
    if len(slug) > max_length:
        cut = slug[:max_length]
        if slug[max_length] != "-" and "-" in cut:
            cut = cut[: cut.rindex("-")]
        slug = cut.strip("-")
    return slug or "image"


def build_fields(
    *,
    prompt: str,
    seed: int | None,
    n: int,
    count: int,
    backend: str,
    model: str,
    style: str | None,
    request_hash: str,
    width: int,
    height: int,
    when: dt.datetime,
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The values of every naming field for one take.

    ``when`` is shown in local time (an aware datetime is converted, a naive one is taken as
    local). ``extra`` holds plugin fields; it cannot override a built-in field.
    """
    local = when.astimezone() if when.tzinfo is not None else when
    fields: dict[str, object] = dict(extra or {})
    fields.update(
        date=local.strftime("%Y-%m-%d"),
        time=local.strftime("%H%M%S"),
        datetime=local.strftime("%Y-%m-%dT%H%M%S"),
        slug=slugify(prompt),
        seed=seed,
        n=n,
        count=count,
        backend=backend,
        model=model,
        style=style or "nostyle",
        hash=request_hash[:8],
        width=width,
        height=height,
    )
    return fields


__all__ = ["BUILTIN_FIELDS", "NamingTemplate", "build_fields", "outside_output", "slugify"]
