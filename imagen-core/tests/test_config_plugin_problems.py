"""A plugin's settings validators and validate_config problems are reported where they belong:
at the key's own YAML path and line, and together with the file's other errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# ``imagen ARGS`` with a plugin whose settings class validates a field with a plain ValueError
# (no attrs Attribute in the exception) and whose validate_config hook reports a problem.
STRICT_CLI = """
import sys, types
import attrs
from imagen.plugins import loader as plugins
from imagen.cli import main
from imagen import hookimpl
from imagen.mock import MockBackend

def _check_quality(instance, attribute, value):
    if value not in ("draft", "final"):
        raise ValueError(f"quality must be draft or final, got {value!r}")

def _check_steps(instance, attribute, value):
    # Names its key, as validators written for older imagen versions do.
    if not 1 <= value <= 4:
        raise ValueError(f"steps: expected 1 to 4, got {value!r}")

@attrs.frozen
class StrictSettings:
    model: str = "strict-1"
    quality: str = attrs.field(default="draft", validator=_check_quality)
    steps: int = attrs.field(default=1, validator=_check_steps)

class Strict(MockBackend):
    def __init__(self, name, settings):
        super().__init__(name, None)

def register_backends(register):
    register("strict", Strict, StrictSettings)

def validate_config(config, problems):
    for name, instance in config.backends.items():
        if instance.type == "strict" and instance.settings.model == "strict-0":
            problems.error(f"backends.{name}.model", "strict-0 is retired; use strict-1")

module = types.ModuleType("strict_plugin")
module.register_backends = hookimpl(register_backends)
module.validate_config = hookimpl(validate_config)
plugins.manager().register(module, name="strict")
main(sys.argv[1:])
"""


def validate(config: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", STRICT_CLI, "--config", str(config), "config", "validate"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_a_settings_validators_plain_value_error_is_reported_at_the_keys_line(
    tmp_path: Path,
) -> None:
    config = tmp_path / "imagen.yaml"
    config.write_text("backends:\n  s:\n    type: strict\n    model: strict-1\n    quality: best\n")
    done = validate(config)
    assert done.returncode == 2
    assert (
        f"imagen: error: {config}:5: backends.s.quality: quality must be draft or final, got 'best'"
    ) in done.stderr.splitlines()


def test_a_validator_that_names_its_key_is_not_shown_naming_it_twice(tmp_path: Path) -> None:
    config = tmp_path / "imagen.yaml"
    config.write_text("backends:\n  s:\n    type: strict\n    steps: 9\n")
    done = validate(config)
    assert done.returncode == 2
    assert f"imagen: error: {config}:4: backends.s.steps: expected 1 to 4, got 9" in (
        done.stderr.splitlines()
    ), done.stderr


def test_validate_config_problems_are_shown_with_the_schema_errors(tmp_path: Path) -> None:
    config = tmp_path / "imagen.yaml"
    config.write_text(
        "output:\n  preview: sometimes\n"
        "backends:\n  old:\n    type: strict\n    model: strict-0\n"
        "  bad:\n    type: strict\n    quality: best\n"
    )
    done = validate(config)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("imagen: error:")]
    assert any(f"{config}:2: output.preview:" in line for line in errors), done.stderr
    assert any(f"{config}:9: backends.bad.quality:" in line for line in errors), done.stderr
    assert f"imagen: error: {config}:6: backends.old.model: strict-0 is retired; use strict-1" in (
        errors
    ), done.stderr
