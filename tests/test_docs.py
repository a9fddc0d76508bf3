"""Every command and every setting is documented, and the README shows the two commands."""

from pathlib import Path

from tpdask.cli.main import COMMANDS
from tpdask.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def test_every_command_has_a_section_in_docs_cli():
    text = (ROOT / "docs" / "cli.md").read_text()
    for name, _ in COMMANDS:
        assert f"## `tpdask {name}" in text, f"docs/cli.md does not document `tpdask {name}`"


def test_every_setting_is_in_docs_settings():
    text = (ROOT / "docs" / "settings.md").read_text()
    for s in SETTINGS:
        assert f"`--{s.name}`" in text and f"`{s.env}`" in text, f"--{s.name} is undocumented"


def test_the_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
