"""Output naming: templates are checked at parse time and always render to safe relative paths."""

from __future__ import annotations

import datetime as dt
import posixpath
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from imagen.errors import ConfigError
from imagen.output.naming import NamingTemplate, build_fields, outside_output, slugify

WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {
    f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789"
}
WHEN = dt.datetime(2026, 3, 4, 5, 6, 7)


def fields_for(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "prompt": "a cat in a fishbowl",
        "seed": 42,
        "n": 1,
        "count": 1,
        "backend": "mock",
        "model": "flux-schnell",
        "style": None,
        "request_hash": "0123456789abcdef",
        "width": 512,
        "height": 768,
        "when": WHEN,
    }
    values.update(overrides)
    return build_fields(**values)  # type: ignore[arg-type]


def assert_safe(path: str) -> None:
    assert path
    assert not path.startswith("/")
    assert posixpath.normpath(posixpath.join("/out", path)).startswith("/out/")
    parts = path.split("/")
    for part in parts:
        assert part not in ("", ".", "..")
        assert not part.startswith("."), part
        assert part == part.rstrip(". "), part
        assert not any(
            char in '<>:"\\|?*' or unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in part
        ), part
        assert len(part.encode()) <= 200
        assert part.split(".")[0].rstrip(" ").upper() not in WINDOWS_RESERVED, part
    assert len((parts[-1] + "-9999.jpeg").encode()) <= 200


def render(template: str, **overrides: object) -> str:
    return NamingTemplate.parse(template).render(fields_for(**overrides))


# --- rendering ----------------------------------------------------------------------------


def test_default_template_renders_date_folder_time_slug_and_seed() -> None:
    assert render("{date}/{time}-{slug}-{seed}") == "2026-03-04/050607-a-cat-in-a-fishbowl-42"


def test_every_builtin_field_renders() -> None:
    template = "{datetime}_{n}of{count}_{backend}_{model}_{style}_{hash}_{width}x{height}"
    assert render(template) == "2026-03-04T050607_1of1_mock_flux-schnell_nostyle_01234567_512x768"


def test_missing_seed_renders_noseed_even_with_an_integer_spec() -> None:
    assert render("{seed}", seed=None) == "noseed"
    assert render("{seed:08d}", seed=None) == "noseed"
    assert render("{seed:08d}") == "00000042"


def test_empty_style_renders_nostyle() -> None:
    template = NamingTemplate.parse("{style}")
    assert template.render({"style": ""}) == "nostyle"
    assert render("{style}", style="blog-header") == "blog-header"


def test_aware_times_are_shown_in_local_time() -> None:
    aware = dt.datetime(2026, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    local = aware.astimezone()
    assert render("{date}-{time}", when=aware) == local.strftime("%Y-%m-%d-%H%M%S")


def test_plugin_fields_render_with_text_and_integer_values() -> None:
    template = NamingTemplate.parse("{project}/{shot:03d}", extra_fields=["project", "shot"])
    assert template.render({"project": "moon", "shot": 7}) == "moon/007"


def test_plugin_fields_cannot_override_builtin_fields() -> None:
    assert fields_for(extra={"slug": "evil/../x", "project": "p"})["slug"] == "a-cat-in-a-fishbowl"


def test_slash_in_a_value_never_creates_a_folder() -> None:
    assert render("{model}", model="black-forest-labs/flux\\dev") == "black-forest-labs-flux-dev"


def test_slash_in_the_template_creates_folders() -> None:
    assert render("{backend}/{model}/{seed}") == "mock/flux-schnell/42"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("../../etc/{slug}", "etc/a-cat-in-a-fishbowl"),
        ("/abs/{slug}", "abs/a-cat-in-a-fishbowl"),
        ("{slug}/../..", "a-cat-in-a-fishbowl"),
        ("a//b", "a/b"),
        ("///", "image"),
        ("./{slug}/.", "a-cat-in-a-fishbowl"),
    ],
)
def test_hostile_templates_become_safe_relative_paths(template: str, expected: str) -> None:
    assert render(template) == expected


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("../../etc/{slug}", "goes up with .."),
        ("{slug}/../..", "goes up with .."),
        ("a\\..\\{slug}", "goes up with .."),
        ("/abs/{slug}", "absolute path"),
        ("\\\\server\\share\\{slug}", "absolute path"),
        ("C:/images/{slug}", "absolute path"),
        ("~/{slug}", "home folder"),
    ],
)
def test_a_template_that_would_leave_the_folder_is_reported(template: str, reason: str) -> None:
    message = outside_output(template)
    assert message is not None
    assert reason in message


@pytest.mark.parametrize(
    "template",
    ["{date}/{time}-{slug}-{seed}", "..{slug}", "{slug}..", "a/..b/{slug}", "{model}:{seed}", "x~"],
)
def test_a_template_inside_the_folder_is_not_reported(template: str) -> None:
    assert outside_output(template) is None


def test_leading_dots_are_replaced_so_nothing_is_hidden() -> None:
    assert render(".hidden/..x/{slug}") == "_hidden/__x/a-cat-in-a-fishbowl"


def test_trailing_dots_and_spaces_are_removed() -> None:
    assert render("dir. ./{slug}. ") == "dir/a-cat-in-a-fishbowl"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("con", "con_"), ("NUL.txt", "NUL_.txt"), ("com1", "com1_"), ("Lpt9.x", "Lpt9_.x")],
)
def test_windows_reserved_names_get_an_underscore(name: str, expected: str) -> None:
    assert render(f"{name}/{name}") == f"{expected}/{expected}"


def test_reserved_slug_gets_an_underscore() -> None:
    assert render("{slug}", prompt="CON") == "con_"


def test_forbidden_and_control_characters_are_replaced() -> None:
    assert render('a<b>c:d"e|f?g*h\\i\x00j\x1fk') == "a_b_c_d_e_f_g_h_i_j_k"


def test_long_components_are_cut_on_a_character_boundary() -> None:
    path = render("{model}/{model}", model="é" * 300)
    folder, last = path.split("/")
    assert folder == "é" * 100
    assert last == "é" * 90


# --- parse errors -------------------------------------------------------------------------


def parse_error(template: str, extra: tuple[str, ...] = ()) -> str:
    with pytest.raises(ConfigError) as caught:
        NamingTemplate.parse(template, extra_fields=extra)
    return str(caught.value)


def test_unknown_field_suggests_the_closest_and_lists_known_fields() -> None:
    message = parse_error("{date}/{sulg}")
    assert "unknown field {sulg}" in message
    assert "did you mean {slug}?" in message
    assert "{backend}, {count}, {date}" in message


def test_unknown_field_lists_plugin_fields_too() -> None:
    assert "{project}" in parse_error("{nope}", extra=("project",))


def test_bad_spec_for_a_text_field_is_rejected() -> None:
    message = parse_error("{slug:d}")
    assert "{slug:d}: bad format spec for slug, which is text" in message


def test_bad_spec_for_an_integer_field_is_rejected() -> None:
    assert "{seed:s}: bad format spec for seed, which is an integer" in parse_error("{seed:s}")


def test_spec_valid_for_neither_text_nor_integer_is_rejected_for_plugin_fields() -> None:
    assert "bad format spec for shot" in parse_error("{shot:q}", extra=("shot",))


def test_huge_format_width_is_rejected() -> None:
    assert "999999999 is too large for a file name" in parse_error("{n:999999999}")


def test_nested_spec_field_is_rejected() -> None:
    assert "nested fields" in parse_error("{seed:{n}}")


@pytest.mark.parametrize("template", ["{slug.upper}", "{seed[0]}"])
def test_attribute_and_index_access_are_rejected(template: str) -> None:
    assert "attribute or index access is not allowed" in parse_error(template)


def test_conversions_are_rejected() -> None:
    assert "{slug!r}: conversions are not allowed" in parse_error("{slug!r}")


@pytest.mark.parametrize("template", ["{slug", "slug}", "{slug!}"])
def test_unbalanced_braces_are_rejected(template: str) -> None:
    assert "unbalanced braces" in parse_error(template)


@pytest.mark.parametrize("template", ["", "   "])
def test_empty_template_is_rejected(template: str) -> None:
    assert "the naming template is empty" in parse_error(template)


@pytest.mark.parametrize("template", ["{}", "{0}"])
def test_positional_fields_are_rejected(template: str) -> None:
    assert "positional fields" in parse_error(template)


def test_escaped_braces_are_literal_text() -> None:
    assert render("{{x}}-{seed}") == "{x}-42"


# --- slugify ------------------------------------------------------------------------------


def test_slug_keeps_unicode_letters_and_lower_cases() -> None:
    assert slugify("Ein Schloß am Meer — 東京タワー") == "ein-schloß-am-meer-東京タワー"


def test_slug_keeps_combining_marks_with_their_letters() -> None:
    assert slugify("हिन्दी भाषा") == "हिन्दी-भाषा"


def test_slug_normalises_compatibility_characters() -> None:
    assert slugify("ＦＵＬＬ width ①") == "full-width-1"


def test_slug_is_cut_at_a_dash_boundary() -> None:
    assert slugify("word " * 20) == "word-word-word-word-word-word-word-word-word"


def test_slug_without_letters_is_image() -> None:
    assert slugify("!!! ???") == "image"


# --- properties ---------------------------------------------------------------------------


@given(st.text())
def test_slug_is_short_nonempty_and_dash_separated(prompt: str) -> None:
    slug = slugify(prompt)
    assert 0 < len(slug) <= 48
    assert not slug.startswith("-")
    assert not slug.endswith("-")
    assert "--" not in slug
    assert all(char == "-" or unicodedata.category(char)[0] in "LNM" for char in slug)


@given(st.text())
def test_any_prompt_renders_a_safe_path_with_the_default_template(prompt: str) -> None:
    assert_safe(render("{date}/{time}-{slug}-{seed}", prompt=prompt))


FRAGMENTS = [
    "..",
    ".",
    "/",
    "\\",
    "\x00",
    "\x1f",
    "\u202e",
    " ",
    "con",
    "NUL.txt",
    "com1",
    '<>:"|?*',
    "~",
    "x" * 250,
    "é" * 150,
    "{{",
    "}}",
    "{slug}",
    "{seed}",
    "{model}",
    "{style}",
    "{seed:08d}",
    "{seed:c}",
    "{slug:.>200}",
    "{model:>190}",
]
hostile_templates = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=12).map("".join)
values = st.one_of(st.text(), st.sampled_from(["..", ".", "/", "con", "", " . "]))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    template=hostile_templates.filter(str.strip),
    prompt=st.text(),
    model=values,
    style=st.one_of(st.none(), values),
    seed=st.one_of(st.none(), st.integers(min_value=0, max_value=2**64)),
)
def test_hostile_templates_render_safe_paths_that_a_filesystem_accepts(
    tmp_path: Path, template: str, prompt: str, model: str, style: str | None, seed: int | None
) -> None:
    parsed = NamingTemplate.parse(template)
    fields = fields_for(prompt=prompt, model=model, style=style, seed=seed)
    path = parsed.render(fields)
    assert_safe(path)
    assert parsed.render(fields) == path
    target = tmp_path / f"{path}-9999.jpeg"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"x")
    assert target.resolve().is_relative_to(tmp_path.resolve())


@given(field=st.sampled_from(["slug", "seed", "n", "model", "width"]), spec=st.text())
def test_any_format_spec_is_rejected_or_renders_safely(field: str, spec: str) -> None:
    try:
        parsed = NamingTemplate.parse(f"{{{field}:{spec}}}")
    except ConfigError:
        return
    assert_safe(parsed.render(fields_for()))
    assert_safe(parsed.render(fields_for(seed=None)))


@given(st.text(), st.text())
def test_values_never_create_folders(prompt: str, model: str) -> None:
    assert "/" not in render("{slug}-{model}-{backend}", prompt=prompt, model=model)


@given(st.text())
def test_rendering_is_deterministic(prompt: str) -> None:
    first = render("{date}/{slug}/{hash}-{seed}", prompt=prompt)
    assert render("{date}/{slug}/{hash}-{seed}", prompt=prompt) == first


def test_a_value_that_cannot_be_formatted_falls_back_to_plain_text() -> None:
    assert render("{seed:c}", seed=2**40) == str(2**40)
    assert render("{seed}", seed=10**5000) == "none"


def test_a_width_with_thousands_of_digits_is_a_config_error() -> None:
    assert "is too large for a file name" in parse_error("{n:" + "9" * 5000 + "}")


def test_error_messages_stay_on_one_line() -> None:
    message = parse_error("{sl\nug}")
    assert "\n" not in message
    assert "{sl\\nug}" in message


template_text = st.text(alphabet=st.one_of(st.sampled_from("{}:!.[]09/slugedn"), st.characters()))


@given(template_text)
def test_any_template_is_a_one_line_config_error_or_renders_safely(template: str) -> None:
    try:
        parsed = NamingTemplate.parse(template)
    except ConfigError as error:
        message = str(error)
    else:
        assert_safe(parsed.render(fields_for()))
        return
    assert message.isprintable()


# --- the whole message a user reads ---------------------------------------------------------

KNOWN_FIELDS = (
    "known fields: {backend}, {count}, {date}, {datetime}, {hash}, {height}, {model}, {n}, "
    "{seed}, {slug}, {style}, {time}, {width}"
)


def format_error(value: object, spec: str) -> str:
    """Python's own words for a spec that cannot format ``value`` (they vary by version)."""
    with pytest.raises(ValueError, match="format code") as caught:
        format(value, spec)
    return str(caught.value)


@pytest.mark.parametrize(
    ("template", "extra", "message"),
    [
        ("  ", (), "the naming template is empty; the default is {date}/{time}-{slug}-{seed}"),
        (
            "{0}",
            (),
            "positional fields like {} or {0} are not allowed in the naming template; "
            "name a field such as {slug}",
        ),
        (
            "{slug.upper}",
            (),
            "{slug.upper}: attribute or index access is not allowed in the naming template; "
            "use the plain field name",
        ),
        (
            "{slug!r}",
            (),
            "{slug!r}: conversions are not allowed in the naming template; "
            "write {slug} or add a format spec after ':'",
        ),
        ("{zzzzzz}", (), f"unknown field {{zzzzzz}} in the naming template; {KNOWN_FIELDS}"),
        ("{a\\b}", (), f"unknown field {{a\\b}} in the naming template; {KNOWN_FIELDS}"),
        ("{seed:{n}}", (), "{seed:{n}}: nested fields in a format spec are not allowed"),
        ("{n:0999}", (), "{n:0999}: 999 is too large for a file name (at most 200)"),
        (
            "{n:" + "9" * 30 + "}",
            (),
            "{n:" + "9" * 30 + "}: 9999999999 is too large for a file name (at most 200)",
        ),
        (
            "{slug:d}",
            (),
            f"{{slug:d}}: bad format spec for slug, which is text ({format_error('text', 'd')})",
        ),
        (
            "{seed:s}",
            (),
            f"{{seed:s}}: bad format spec for seed, which is an integer ({format_error(1, 's')})",
        ),
        (
            "{shot:q}",
            ("shot",),
            f"{{shot:q}}: bad format spec for shot, which is a value ({format_error('text', 'q')})",
        ),
    ],
)
def test_each_template_error_is_one_exact_line(
    template: str, extra: tuple[str, ...], message: str
) -> None:
    assert parse_error(template, extra) == message


def test_unbalanced_braces_say_how_to_write_a_literal_brace() -> None:
    message = parse_error("{slug")
    assert message.startswith("unbalanced braces in naming template '{slug' (")
    assert message.endswith("); write {{ or }} for a literal brace")


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("/abs/{slug}", "it is an absolute path"),
        ("~/{slug}", "it starts at the home folder"),
        ("{slug}/..", "it goes up with .."),
    ],
)
def test_a_template_outside_the_folder_is_one_exact_line(template: str, reason: str) -> None:
    assert outside_output(template) == (
        f"the naming template {template!r} would write outside the output folder ({reason}); "
        "names are relative to output.directory: write a relative template like "
        "{date}/{time}-{slug}-{seed}, and set output.directory to choose the folder"
    )


@pytest.mark.parametrize("template", ["c:/images/{slug}", "{slug}/..", "a/.."])
def test_lower_case_drives_and_a_final_dotdot_are_reported(template: str) -> None:
    assert outside_output(template) is not None


def test_a_plugin_field_accepts_a_spec_that_only_text_can_take() -> None:
    template = NamingTemplate.parse("{project:s}", extra_fields=["project"])
    assert template.render({"project": "moon"}) == "moon"


def test_a_missing_plugin_field_renders_none() -> None:
    template = NamingTemplate.parse("{project}-{shot:03d}", extra_fields=["project", "shot"])
    assert template.render({}) == "none-none"


@given(template_text)
def test_a_parsed_template_keeps_its_text(template: str) -> None:
    try:
        parsed = NamingTemplate.parse(template)
    except ConfigError:
        return
    assert parsed.text == template


# --- what cleaning leaves alone -------------------------------------------------------------

plain_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ ", min_size=1
).filter(lambda name: name == name.strip() and name.upper() not in WINDOWS_RESERVED)


@example("Xmas")
@example("boxX")
@example("CON\u00a0")
@example("NULX")
@given(plain_names.map(lambda name: name[:150]))
def test_a_name_with_nothing_unsafe_renders_unchanged(name: str) -> None:
    assert render(name) == name


@example("NUL", "TXX")
@given(st.sampled_from(sorted(WINDOWS_RESERVED)), st.text(alphabet="abcxyzXYZ019", min_size=1))
def test_a_reserved_name_keeps_its_extension(stem: str, extension: str) -> None:
    assert render(f"{stem}.{extension}") == f"{stem}_.{extension}"


def test_a_reserved_name_with_spaces_before_its_extension_is_still_reserved() -> None:
    assert render("con .txt") == "con _.txt"


def test_a_reserved_folder_name_cut_at_the_length_limit_does_not_end_in_a_dot() -> None:
    folder = "CON." + "a" * 194 + ".b"  # 200 bytes: the added underscore pushes "b" past the cap
    assert render(f"{folder}/x") == "CON_." + "a" * 194 + "/x"


# --- slug edges ---------------------------------------------------------------------------


def test_a_slug_of_exactly_the_maximum_length_is_kept_whole() -> None:
    assert slugify("a" * 48) == "a" * 48


def test_a_slug_cut_just_before_a_dash_keeps_its_last_whole_word() -> None:
    slug = slugify("a" * 10 + " " + "b" * 37 + " more")
    assert slug == "a" * 10 + "-" + "b" * 37


def test_a_combining_mark_after_a_separator_is_dropped() -> None:
    assert slugify("a \u0301b") == "a-b"


# --- time zones ---------------------------------------------------------------------------


@pytest.fixture
def berlin_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time in a zone with an offset and daylight saving, whatever the machine's is."""
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("berlin_time")
def test_an_aware_time_is_shown_in_the_local_zone() -> None:
    aware = dt.datetime(2026, 1, 4, 5, 6, 7, tzinfo=dt.UTC)
    assert render("{date}-{time}", when=aware) == "2026-01-04-060607"


@pytest.mark.usefixtures("berlin_time")
def test_a_naive_time_is_shown_as_given_even_in_a_daylight_saving_gap() -> None:
    in_the_gap = dt.datetime(2026, 3, 29, 2, 30, 0)  # clocks jump from 02:00 to 03:00
    assert render("{datetime}", when=in_the_gap) == "2026-03-29T023000"
