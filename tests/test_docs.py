"""Every setting is documented, and the README shows the two commands (every command's
section of docs/cli.md is checked by tests/test_cli_docs.py)."""

from pathlib import Path

from tpdask.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_docs_settings():
    text = (ROOT / "docs" / "settings.md").read_text()
    for s in SETTINGS:
        assert f"`--{s.name}`" in text and f"`{s.env}`" in text, f"--{s.name} is undocumented"


def test_the_readme_names_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make demo" in text and "make test" in text
