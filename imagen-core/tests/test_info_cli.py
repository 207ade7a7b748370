"""``imagen backends``, ``imagen styles`` and ``imagen config ...`` as a user runs them."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

BUILTIN_STYLES = {
    "blog-header",
    "photo",
    "illustration",
    "icon",
    "watercolor",
    "pixel-art",
    "cinematic",
}


def test_backends_lists_the_builtin_mock_as_default(imagen) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("backends")
    assert ran.code == 0
    assert ran.lines[0].split() == ["NAME", "TYPE", "STATUS", "PRICE"]
    assert ran.lines[1].startswith("* mock  mock  ok")


def test_backends_reports_a_missing_token_without_network(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.write_text(
        "default_backend: flux\nbackends:\n  flux:\n    type: replicate\n"
        "    model: black-forest-labs/flux-schnell\n    api_token_env: MY_REPLICATE_TOKEN\n"
    )
    ran = imagen("--config", str(config), "backends", "--json")
    rows = {row["name"]: row for row in json.loads(ran.out)}
    assert rows["flux"]["status"] == "not configured (set MY_REPLICATE_TOKEN)"
    assert rows["flux"]["default"] is True
    assert rows["flux"]["price"].startswith("$0.003")


def test_styles_lists_every_builtin_preset(imagen) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("styles", "--json")
    styles = {style["name"]: style for style in json.loads(ran.out)}
    assert set(styles) >= BUILTIN_STYLES
    for name in BUILTIN_STYLES:
        assert "{prompt}" in styles[name]["prompt"]
        assert styles[name]["source"] == "builtin_styles"


def test_user_styles_are_listed_with_their_source(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.write_text(
        "styles:\n  noir:\n    prompt: '{prompt}, film noir'\n    description: Dark\n"
    )
    ran = imagen("--config", str(config), "styles")
    line = next(line for line in ran.lines if line.startswith("noir"))
    assert line.split()[1] == "config"


def test_config_path_is_under_the_platform_config_dir(imagen, isolated_environment: Path) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("config", "path")
    assert ran.out.strip() == str(isolated_environment / ".config" / "imagen" / "imagen.yaml")
    assert "does not exist yet" in ran.err


def test_config_init_writes_the_sample_once_and_never_overwrites(
    imagen, isolated_environment: Path
) -> None:  # type: ignore[no-untyped-def]
    first = imagen("config", "init")
    assert first.code == 0
    path = Path(first.out.strip())
    text = path.read_text()
    assert "backends:" in text
    path.write_text(text + "# mine\n")
    again = imagen("config", "init")
    assert again.code == 2
    assert "already exists" in again.err
    assert path.read_text().endswith("# mine\n")
    assert imagen("config", "validate").code == 0


def test_config_validate_reports_errors_with_lines_and_exits_2(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.write_text("output:\n  preview: sometimes\nbackends:\n  x: {type: nope}\n")
    ran = imagen("--config", str(config), "config", "validate")
    assert ran.code == 2
    errors = [line for line in ran.err.splitlines() if line.startswith("imagen: error:")]
    assert len(errors) == 2
    assert f"{config}:2: output.preview" in errors[0]
    assert f"{config}:4: backends.x.type" in errors[1]


def test_config_validate_shows_plugin_warnings_and_passes(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.write_text("styles:\n  s:\n    prompt: fixed text\n")
    ran = imagen("--config", str(config), "config", "validate")
    assert ran.code == 0
    assert "imagen: warning:" in ran.err
    assert "has no {prompt} placeholder" in ran.err
    assert ran.out.startswith("ok: ")


def test_config_show_fills_defaults_and_redacts_url_passwords(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.write_text("backends:\n  m:\n    type: mock\n    latency: 0.5\n")
    ran = imagen("--config", str(config), "config", "show")
    assert "naming: '{date}/{time}-{slug}-{seed}'" in ran.out or 'naming: "{date}' in ran.out
    assert "latency: 0.5" in ran.out


def test_config_set_rejects_a_value_that_breaks_the_config(imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.write_text("# keep me\noutput:\n  preview: auto\n")
    ran = imagen("--config", str(config), "config", "set", "output.preview", "sometimes")
    assert ran.code == 2
    assert config.read_text() == "# keep me\noutput:\n  preview: auto\n"
    assert imagen("--config", str(config), "config", "set", "output.preview", "off").code == 0
    assert config.read_text() == "# keep me\noutput:\n  preview: off\n"


@pytest.mark.parametrize(
    "command", ["generate", "backends", "plugins", "styles", "config", "log", "usage", "sync"]
)
def test_every_command_has_help(imagen, command: str) -> None:  # type: ignore[no-untyped-def]
    ran = imagen(command, "--help")
    assert ran.code == 0
    assert ran.out.startswith("Usage: imagen")


def test_version(imagen) -> None:  # type: ignore[no-untyped-def]
    from imagen import __version__

    assert imagen("--version").out.strip() == f"imagen {__version__}"


@pytest.fixture
def refusing_url() -> Iterator[str]:
    """A loopback URL whose port is held but not listening: every connection is refused."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


def comfyui_config(tmp_path: Path, url: str) -> str:
    pytest.importorskip("imagen_comfyui")
    config = tmp_path / "c.yaml"
    config.write_text(f"default_backend: box\nbackends:\n  box: {{type: comfyui, url: '{url}'}}\n")
    return str(config)


def status_line(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.split()[1:2] == [name])


def test_backends_does_not_call_a_server_it_never_asked_ok(  # type: ignore[no-untyped-def]
    imagen_process, tmp_path: Path, refusing_url: str
) -> None:
    ran = imagen_process("--config", comfyui_config(tmp_path, refusing_url), "backends")
    assert ran.code == 0, ran.err
    line = status_line(ran.out, "box")
    assert f"configured ({refusing_url}; server not checked)" in line
    assert " ok" not in line


def test_backends_check_says_in_one_line_that_the_server_could_not_be_reached(  # type: ignore[no-untyped-def]
    imagen_process, tmp_path: Path, refusing_url: str
) -> None:
    config = comfyui_config(tmp_path, refusing_url)
    ran = imagen_process("--config", config, "backends", "--check", "--json")
    assert ran.code == 0, ran.err
    rows = {row["name"]: row for row in json.loads(ran.out)}
    assert rows["box"]["status"] == f"server not reachable at {refusing_url} (Connection refused)"
    assert rows["mock"]["status"].startswith("ok")
    table = imagen_process("--config", config, "backends", "--check")
    assert f"server not reachable at {refusing_url}" in status_line(table.out, "box")


def test_backends_check_says_ok_with_the_version_when_the_server_answers(  # type: ignore[no-untyped-def]
    imagen_process, tmp_path: Path
) -> None:
    fake = pytest.importorskip("imagen_comfyui.fake")
    from imagen.testing.servers import serve_app

    server = fake.FakeComfyUI()
    with serve_app(server.app()) as url:
        config = comfyui_config(tmp_path, url)
        checked = imagen_process("--config", config, "backends", "--check")
        unchecked = imagen_process("--config", config, "backends")
    assert f"ok ({url}, ComfyUI 0.8.0)" in status_line(checked.out, "box")
    assert "server not checked" in status_line(unchecked.out, "box")
    assert [call.path for call in server.calls] == ["/system_stats"]  # only --check asked
