"""Every command's help has an example, and every example works as typed from the repository root.

The examples run in a copy of the repository's `flows/` (so files they write land in a temporary
directory), with an empty $FLOWKIT_HOME and no JIRA_API_TOKEN, through click's runner (the same
argv as typed). A command that serves until stopped (the simulator) runs in a real process and
passes when it announces itself; it is then stopped.
"""

from __future__ import annotations

import re
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from flowkit.cli import cli

REPO = Path(__file__).resolve().parents[1]
SERVES = ("flowkit simulator jira", "flowkit ui")  # commands that run until stopped


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    found: list[tuple[tuple[str, ...], click.Command]] = [(prefix, group)]
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
        else:
            found.append(((*prefix, name), command))
    return found


def _examples(command: click.Command) -> list[str]:
    """The lines under `Example:` in the help text, up to the first blank line."""
    help_text = command.help or ""
    match = re.search(r"Example:\n((?:[ \t]+flowkit .*\n?)+)", help_text)
    return [line.strip() for line in match.group(1).splitlines()] if match else []


COMMANDS = _commands(cli)
EXAMPLES = [example for _, command in COMMANDS for example in _examples(command)]


@pytest.mark.parametrize("path", [" ".join(p) or "flowkit" for p, _ in COMMANDS])
def test_every_command_has_an_example(path: str) -> None:
    command = dict((" ".join(p) or "flowkit", c) for p, c in COMMANDS)[path]
    assert _examples(command), f"`flowkit {path} --help` has no example"


def test_the_examples_cover_the_product_commands() -> None:
    for spelling in ("flowkit run", "flowkit validate", "flowkit status", "flowkit graph", "flowkit state show"):
        assert any(example.startswith(spelling) for example in EXAMPLES), spelling


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the repository root: the shipped flows, nothing else."""
    root = tmp_path_factory.mktemp("repo-root")
    shutil.copytree(REPO / "flows", root / "flows")
    return root


@pytest.mark.parametrize("example", EXAMPLES)
def test_example_works_as_typed(example: str, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    argv = shlex.split(example)
    assert argv[0] == "flowkit"
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("JIRA_API_TOKEN", raising=False)
    monkeypatch.setenv("FLOWKIT_HOME", str(workdir / ".flowkit"))
    if example.startswith(SERVES):  # in a real process: it serves until stopped
        command = [sys.executable, "-m", "flowkit.cli", *argv[1:]]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert process.stdout is not None
            first = process.stdout.readline().decode()
            assert "listening on http://127.0.0.1:" in first, first
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        return
    result = CliRunner().invoke(cli, argv[1:])
    assert result.exit_code == 0, f"{example}\n{result.output}"


# Error messages the docs (docs/*.md, README) quote; each needs a troubleshooting entry.
DOCUMENTED_ERRORS = (
    "flow file not found",
    "has no value (required by",
    "Jira refused the credentials",
    "is already running (pid",
    "cannot clear the state of flow",
    "the board list could not be read completely",
    "stops being replicated in this run",
    "Graphviz 'dot' is not installed",
    "is a PKCS#1 key",  # docs/destinations.md: Snowflake key material
    "does not exist or the role cannot use it",
)


def _troubleshooting() -> list[str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    return [heading for heading in re.findall(r"^### (.+)$", section, re.M)]


def test_every_documented_error_has_a_troubleshooting_entry() -> None:
    headings = " ".join(_troubleshooting())
    for message in DOCUMENTED_ERRORS:
        assert f"`{message}" in headings or message in headings, message


def test_every_troubleshooting_entry_quotes_words_flowkit_really_prints() -> None:
    source = "\n".join(path.read_text(encoding="utf-8") for path in (REPO / "flowkit").rglob("*.py"))
    flat = re.sub(r'"\s*\n\s*f?"', "", source)  # implicit string concatenation across lines
    for heading in _troubleshooting():
        for quoted in re.findall(r"`([^`]+)`", heading):
            words = re.split(r"%s|\{[^}]*\}", quoted)  # placeholders of the real message
            assert all(word in flat for word in words if word.strip()), f"{heading!r}: {quoted!r} not in flowkit/"
