"""The README stays true: quickstart commands, settings table, CI calling the test command."""

from __future__ import annotations

import re
from pathlib import Path

from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _quickstart_commands() -> list[str]:
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section, re.S)


def test_quickstart_has_two_commands_serve_and_test():
    serve, test = _quickstart_commands()
    assert serve.endswith("installstats serve")
    assert test.endswith(".venv/bin/pytest")


def test_ci_runs_the_readme_test_command():
    _, test = _quickstart_commands()
    ci = (ROOT / ".ci" / "run").read_text()
    assert f'TEST_COMMAND="{test}"' in ci


def test_every_setting_is_described_and_documented_in_the_readme():
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"`INSTALLSTATS_{name.upper()}`" in README, f"{name} missing from README"
