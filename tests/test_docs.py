"""Every setting and every dependency is documented, the README shows the two commands, and
the Makefile declares only targets it has (every command's section of docs/cli.md is
checked by tests/test_cli_docs.py)."""

import configparser
import re
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


def test_every_requirement_of_setup_cfg_is_in_docs_dependencies():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    lines = setup["options"]["install_requires"].split("\n")
    lines += [line for extra in setup["options.extras_require"].values()
              for line in extra.split("\n")]
    names = [re.match(r"[A-Za-z0-9_.\[\]-]+", line.strip())[0] for line in lines if line.strip()]
    text = (ROOT / "docs" / "dependencies.md").read_text()
    for name in names:
        assert f"| `{name}`" in text, f"docs/dependencies.md does not say why {name} is there"
    assert len(names) == len(set(names)) and {"pytest", "selenium", "duckdb"} <= set(names)


def test_the_makefile_declares_only_targets_it_has():
    text = (ROOT / "Makefile").read_text()
    phony = re.search(r"^\.PHONY:(.*)$", text, re.M)[1].split()
    targets = set(re.findall(r"^([A-Za-z][\w.-]*):(?!=)", text, re.M))
    assert phony and set(phony) <= targets, sorted(set(phony) - targets)
