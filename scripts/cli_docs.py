"""The command reference of docs/cli.md, generated from the commands' own help.

Each command's section of docs/cli.md holds a block between two marker comments::

    <!-- BEGIN GENERATED: tpdask archive --help -->
    ```text
    usage: tpdask archive [--day DAY]
    …
    ```
    <!-- END GENERATED: tpdask archive --help -->

whose text is exactly what that command line prints. Prose around the blocks is written
by hand and kept (the global options are in docs/settings.md, checked by tests/test_docs.py).

    python scripts/cli_docs.py          # check: exit 1 and say which block differs
    python scripts/cli_docs.py --write  # regenerate the blocks (a new command's section
                                        # is added at the end of the page)

tests/test_cli_docs.py runs the check, so the page cannot drift from the help.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the work tree's tpdask, as the tests use it

from tpdask.cli.main import COMMANDS, main  # noqa: E402

PAGE = ROOT / "docs" / "cli.md"
REGENERATE = "python scripts/cli_docs.py --write"
BLOCK = re.compile(r"<!-- BEGIN GENERATED: (?P<line>[^>]*?) -->\n(?P<body>.*?)"
                   r"<!-- END GENERATED: (?P=line) -->\n", re.S)


def command_lines() -> list[str]:
    """The command lines whose output the page holds: each command's help."""
    return [f"tpdask {name} --help" for name, _ in COMMANDS]


def output_of(line: str) -> str:
    """What `line` (tpdask …) prints, run in this process."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(line.split()[1:])
    if code != 0:
        raise RuntimeError(f"`{line}` exited {code}")
    return out.getvalue()


def body(line: str) -> str:
    """The text between the markers of `line`'s block."""
    return f"```text\n{output_of(line).rstrip()}\n```\n"


def block(line: str) -> str:
    """`line`'s block with its markers."""
    return f"<!-- BEGIN GENERATED: {line} -->\n{body(line)}<!-- END GENERATED: {line} -->\n"


def differences(text: str) -> list[str]:
    """One message per block that is missing, unknown or unlike the command's output."""
    wanted = command_lines()
    found = {m["line"]: m["body"] for m in BLOCK.finditer(text)}
    problems = []
    for line in wanted:
        if line not in found:
            problems.append(f"docs/cli.md has no generated block of `{line}`; "
                            f"`{REGENERATE}` adds it")
            continue
        expected = body(line)
        if found[line] != expected:
            diff = difflib.unified_diff(found[line].splitlines(), expected.splitlines(),
                                        "docs/cli.md", f"`{line}`", lineterm="", n=0)
            problems.append(f"docs/cli.md: the block of `{line}` differs from what it prints; "
                            f"run `{REGENERATE}`\n" + "\n".join(list(diff)[2:12]))
    for line in found:
        if line not in wanted:
            problems.append(f"docs/cli.md has a generated block of `{line}`, which is not a "
                            "command: remove it")
    return problems


def regenerate(text: str) -> str:
    """The page with every block regenerated; a missing command's section goes at the end."""
    text = BLOCK.sub(lambda m: block(m["line"]) if m["line"] in command_lines() else m[0], text)
    present = {m["line"] for m in BLOCK.finditer(text)}
    for line in command_lines():
        if line not in present:
            name = line.split()[1]
            text = text.rstrip("\n") + f"\n\n## `tpdask {name}`\n{block(line)}"
    return text


def run(argv: list[str]) -> int:
    """Check docs/cli.md (exit 1 on a difference), or regenerate it with --write."""
    text = PAGE.read_text()
    if argv == ["--write"]:
        new = regenerate(text)
        if new != text:
            PAGE.write_text(new)
        print(f"{PAGE.relative_to(ROOT)}: {'regenerated' if new != text else 'up to date'}")
        return 0
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    problems = differences(text)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
