"""The docs match the command line (issue 7, item 15): every option of every command is in
its docs/cli.md section, no page promises a command that does not exist, and the contracts
are in the repository (docs/contracts.md), not in a DESIGN.md it lacks."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from tpdask.cli.main import COMMANDS, Tpdask

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md", ROOT / "cluster" / "README.md"]
NAMES = [name for name, _ in COMMANDS]


def cli_section(name: str) -> str:
    text = (ROOT / "docs" / "cli.md").read_text()
    start = text.index(f"## `tpdask {name}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


@pytest.mark.parametrize("name", NAMES)
def test_every_option_of_a_command_is_in_its_section_of_docs_cli(name):
    section = cli_section(name)
    for p in inspect.signature(getattr(Tpdask, name)).parameters.values():
        if p.name != "self" and p.default is not inspect.Parameter.empty:
            assert f"--{p.name}" in section, f"docs/cli.md: `tpdask {name}` lacks --{p.name}"


def test_no_page_refers_to_a_design_md_outside_the_repository():
    for page in PAGES:
        assert "DESIGN.md" not in page.read_text(), page


def test_commands_not_built_are_named_only_as_such():
    for page in PAGES:
        if page.name == "contracts.md":
            continue  # the contracts list what is planned, and say what is built
        for line in page.read_text().splitlines():
            for word in re.findall(r"`tpdask ([a-z_]+)", line):
                assert word in NAMES + ["help"] or "not built yet" in line, (page.name, line)


def test_the_contracts_page_holds_every_contract():
    text = (ROOT / "docs" / "contracts.md").read_text()
    for title in ("## Sample contract v1", "## Inversion rule", "## Command line",
                  "### Analytics contract", "### Account status contract", "### Privacy contract"):
        assert title in text
    status = {line.split("](")[0].strip("| ["): line.rsplit("|", 2)[1].strip()
              for line in text.splitlines() if line.startswith("| [")}
    assert len(status) == 6
    for contract, said in status.items():   # each says whether it is built, and by what
        assert said.startswith(("built", "partly built", "**not built yet**")), (contract, said)
