"""Every setting and every dependency is documented, the README shows the two commands, and
the Makefile declares only targets it has (every command's section of docs/cli.md is
checked by tests/test_cli_docs.py)."""

import configparser
import re
from pathlib import Path

from tpdask.settings import SETTINGS

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_in_docs_settings_with_its_default():
    text = (ROOT / "docs" / "settings.md").read_text()
    for s in SETTINGS:
        row = re.search(rf"^\| `--{s.name}` \| `{s.env}` \| ([^|]*) \|", text, re.M)
        assert row, f"docs/settings.md: --{s.name} ({s.env}) is undocumented"
        if s.name in ("store", "bot_list"):   # described: derived from data_dir, the shipped list
            continue
        default = s.default
        if isinstance(default, bool):
            default = str(default).lower()
        elif isinstance(default, float) and default.is_integer():
            default = int(default)
        elif default == "":
            default = '""'                    # empty: written as the empty string
        assert row[1].strip() == f"`{default}`", f"docs/settings.md: --{s.name} defaults to {default}"


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


PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "cluster" / "README.md"]


def module_of(dotted: str) -> str:
    """The longest importable module at the start of a dotted name."""
    import importlib.util

    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        try:
            if importlib.util.find_spec(".".join(parts[:n])) is not None:
                return ".".join(parts[:n])
        except ModuleNotFoundError:   # a parent that is a module, not a package
            continue
    raise AssertionError(f"no module {dotted}")


def test_every_path_and_module_a_page_names_exists():
    """`tpdask/process/lake.py`, `tests/test_day_job.py::…`, `tpdask.archive.pack.FILTERS`:
    a file moved or renamed is caught here, not by a reader."""
    import importlib

    for page in PAGES:
        text = page.read_text()
        for path in re.findall(r"(?<![\w/.-])((?:tpdask|jobs|scripts|tests|cluster|docs)/"
                               r"[\w./-]*\w)", text):
            assert (ROOT / path).exists(), f"{page.relative_to(ROOT)} names {path}, which is gone"
        for dotted in re.findall(r"(?<![\w/.-])tpdask(?:\.[A-Za-z_]\w*)+", text):
            if dotted in ("tpdask.env", "tpdask.sqlite"):   # file names, not modules
                continue
            module = module_of(dotted)
            thing = importlib.import_module(module)
            for attribute in dotted.split(".")[len(module.split(".")):]:
                assert hasattr(thing, attribute), f"{page.relative_to(ROOT)} names {dotted}"
                thing = getattr(thing, attribute)
