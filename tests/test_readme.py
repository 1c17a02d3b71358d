"""The README's snippets run as written: its Python with pytest-examples (linted with the
project's ruff rules, so a missing import fails, then run), its shell blocks command by command
in a scratch directory, as a reader would type them in a checkout.

Conventions of the README:
- a block `python title="NAME.py"` is a file: written as NAME.py where the shell blocks run;
  one whose name starts with `test_` must be run by one of them (`pytest NAME.py`), and pass;
  any other Python block is a script, run as it is;
- a block `bash test="skip"` is not run: it runs the whole suite, or hundreds of seeds, or
  needs a Dask cluster;
- a command's comment `exit code N` says the exit code it must give; any other gives 0.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from checkout import ROOT, clean_env
from pytest_examples import CodeExample, EvalExample, find_examples

README = ROOT / "README.md"
PYTHON = list(find_examples(README))
FILES = {name: ex.source for ex in PYTHON if (name := ex.prefix_settings().get("title"))}
_SHELL_BLOCK = re.compile(r"^```(bash|sh)([^\n]*)\n(.*?)^```", re.M | re.S)
_EXIT = re.compile(r"#.*\bexit code (\d+)")


@dataclass(frozen=True)
class Command:
    """One command of a shell block: its text (continuations and here-documents included),
    the README line it starts on, and the exit code it must give."""

    text: str
    line: int
    exit_code: int


def _commands(block: str, first_line: int) -> list[Command]:
    commands: list[Command] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip() or lines[i].lstrip().startswith("#"):
            i += 1
            continue
        start = i
        text = [lines[i]]
        heredoc = re.search(r"<<-?\s*'?(\w+)'?", lines[i])
        while heredoc and text[-1] != heredoc[1]:  # up to its terminator
            i += 1
            text.append(lines[i])
        while text[-1].endswith("\\"):
            i += 1
            text.append(lines[i])
        i += 1
        while i < len(lines) and lines[i].startswith(" ") and lines[i].lstrip().startswith("#"):
            text.append(lines[i])  # its comment, carried on under it
            i += 1
        code = _EXIT.search(" ".join(text))
        commands.append(Command("\n".join(text), first_line + start,
                                int(code[1]) if code else 0))
    return commands


def _shell_blocks() -> list[tuple[int, str, list[Command]]]:
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in _SHELL_BLOCK.finditer(text):
        line = text[:match.start()].count("\n") + 2  # the block's first command
        blocks.append((line, match[2], _commands(match[3], line)))
    return blocks


SHELL = [(line, commands) for line, info, commands in _shell_blocks()
         if 'test="skip"' not in info]


def _scratch(tmp_path: Path) -> Path:
    """A directory as a checkout's root looks to the README: its examples, and the README's
    Python files."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    for name, source in FILES.items():
        (tmp_path / name).write_text(source)
    return tmp_path


def _env() -> dict[str, str]:
    """This venv's commands (etcdsim, pytest) first on PATH, as in an activated venv."""
    env = clean_env()
    return {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"}


@pytest.mark.parametrize("example", PYTHON, ids=str)
def test_a_python_snippet_has_its_imports_and_runs(example: CodeExample,
                                                   eval_example: EvalExample) -> None:
    eval_example.set_config(ruff_line_length=100, ruff_select=["E", "F", "W", "I", "B", "UP"],
                            target_version="py311")
    eval_example.lint_ruff(example)
    if "title" not in example.prefix_settings():  # a file: a shell block runs it
        eval_example.run(example)


@pytest.mark.parametrize("commands", [c for _, c in SHELL],
                         ids=[f"README.md:{line}" for line, _ in SHELL])
def test_a_shell_snippet_runs_as_written(commands: list[Command], tmp_path: Path) -> None:
    scratch = _scratch(tmp_path)
    for command in commands:
        proc = subprocess.run(["bash", "-c", command.text], cwd=scratch, env=_env(),
                              capture_output=True, text=True, check=False, timeout=600)
        assert proc.returncode == command.exit_code, (
            f"README.md:{command.line}: {command.text}\nexit code {proc.returncode}, "
            f"expected {command.exit_code}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def test_the_snippets_are_found_and_every_code_block_is_fenced_with_its_language() -> None:
    text = README.read_text(encoding="utf-8")
    assert {"test_etcd.py", "test_etcd_properties.py"} <= set(FILES)
    assert [ex for ex in PYTHON if "title" not in ex.prefix_settings()]  # a plain script too
    assert len(SHELL) >= 6
    # Each test file the README writes is run by one of its shell blocks, which must pass.
    run = " ".join(c.text for _, commands in SHELL for c in commands if c.exit_code == 0)
    for name in FILES:
        assert not name.startswith("test_") or re.search(rf"\bpytest {name}\b", run), name
    lines = text.splitlines()
    fenced = False
    for n, line in enumerate(lines, 1):
        if line.startswith("```"):
            assert fenced or line[3:].strip(), f"README.md:{n}: a code block names its language"
            fenced = not fenced
        elif not fenced:
            # An indented code block (after a blank line) would be left out of these tests.
            assert not (line.startswith("    ") and not lines[n - 2].strip()), (
                f"README.md:{n}: fence the code block with its language")
