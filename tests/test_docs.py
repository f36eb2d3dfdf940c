"""The docs are tested: every command in a command block of README.md and docs/*.md exists with the options it is
shown with (`python -m <project module> ...` parsed by the module's own argument parser, without running it;
`make ...` dry-run with `make -n`), so a renamed option breaks here, not for a reader. Relative links resolve, and the
README stays a front page."""
import argparse
import contextlib
import io
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# docs/history.md records measurements with the commands as they were run then: kept, not kept current
HISTORY = ROOT / "docs" / "history.md"
DOCS = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p != HISTORY)]
# the project's packages: every top-level folder holding Python (a new stage's commands are checked without a list)
PROJECT = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
MAKE_PATH_VARIABLES = {"WEIGHTS": "file", "DATA": "dir"}  # the Makefile refuses these when they do not exist
README_MAX_LINES = 200


def command_blocks(text: str) -> list[list[str]]:
    """The lines of each fenced (```) or indented (4 spaces after a blank line) block, continuations joined."""
    blocks, current, fenced, previous_blank = [], None, False, True
    for line in text.splitlines():
        if line.strip().startswith("```"):
            if fenced:
                blocks.append(current)
                current = None
            else:
                current = []
            fenced = not fenced
        elif fenced:
            current.append(line)
        elif line.startswith("    ") and (current is not None or previous_blank):
            current = [] if current is None else current
            current.append(line[4:])
        elif current is not None and line.strip() and not line.startswith("    "):
            blocks.append(current)
            current = None
        previous_blank = not line.strip()
    if current:
        blocks.append(current)
    joined = []
    for block in blocks:
        lines, pending = [], ""
        for line in block:
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
            else:
                lines.append(pending + line)
                pending = ""
        joined.append(lines)
    return joined


def commands(path: Path) -> list[tuple[int, list[str], dict[str, str]]]:
    return commands_in(path.read_text())


def commands_in(text: str) -> list[tuple[int, list[str], dict[str, str]]]:
    """(block number, tokens, make variables exported earlier in the block) of every python -m / make command."""
    found = []
    for number, block in enumerate(command_blocks(text)):
        exported = {}
        for line in block:
            try:
                line_tokens = shlex.split(line, comments=True)
            except ValueError:  # an example output with an unmatched quote: not a command
                continue
            for tokens in _chained(line_tokens):
                if tokens[:1] == ["export"]:
                    exported.update(t.split("=", 1) for t in tokens[1:] if "=" in t)
                    continue
                while tokens and re.fullmatch(r"[A-Z_]+=\S*", tokens[0]):  # VAR=value before the command
                    tokens = tokens[1:]
                if tokens[:1] in (["python"], ["python3"], [".venv/bin/python"]) and tokens[1:2] == ["-m"] \
                        and len(tokens) > 2 and tokens[2].split(".")[0] in PROJECT:
                    found.append((number, ["python", *tokens[1:]], exported))
                elif tokens[:1] == ["make"]:
                    found.append((number, tokens, dict(exported)))
    return found


def _chained(tokens: list[str]) -> list[list[str]]:
    """`a && b; c` -> [a, b, c]."""
    commands, current = [], []
    for token in tokens:
        if token in ("&&", "||", ";"):
            commands.append(current)
            current = []
        else:
            current.append(token)
    return [c for c in [*commands, current] if c]


CASES = [(path, number, tokens, exported) for path in DOCS for number, tokens, exported in commands(path)]


class _Parsed(BaseException):
    """Raised after a command's arguments parsed: the command exists with these options; nothing runs."""


def parse_only(module: str, argv: list[str]) -> None:
    """Run `python -m module argv` up to the end of its argument parsing."""
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed()

    stderr = io.StringIO()
    saved_argv = sys.argv
    argparse.ArgumentParser.parse_args = parse_then_stop
    try:
        sys.argv = [module, *argv]
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            # runpy warns when the module was imported before (by another test): re-running it is the point here
            warnings.filterwarnings("ignore", message=".*found in sys.modules", category=RuntimeWarning)
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    except _Parsed:
        return
    except SystemExit as exc:
        if exc.code in (0, None) and {"-h", "--help"} & set(argv):
            return  # argparse printed the help: the command exists
        pytest.fail(f"python -m {module} {' '.join(argv)}: exit {exc.code}: {stderr.getvalue().strip()}")
    finally:
        argparse.ArgumentParser.parse_args = original
        sys.argv = saved_argv
    pytest.fail(f"python -m {module} {' '.join(argv)} finished without parsing arguments")


def make_dry_run(tokens: list[str], exported: dict[str, str], tmp_path: Path) -> None:
    """`make -n` of the command in a folder that mirrors the repository, with stand-ins for the files it names."""
    variables = {**exported, **dict(t.split("=", 1) for t in tokens[1:] if "=" in t)}
    stand_ins = {name: value for name, value in variables.items()
                 if name in MAKE_PATH_VARIABLES and not (ROOT / value).exists()}
    taken = {Path(value).parts[0] for value in stand_ins.values()}
    for entry in ROOT.iterdir():
        if entry.name not in taken and entry.name != ".git":
            (tmp_path / entry.name).symlink_to(entry)
    for name, value in stand_ins.items():
        target = tmp_path / value
        if MAKE_PATH_VARIABLES[name] == "dir":
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"stand-in")
    args = [f"{k}={v}" for k, v in exported.items()] + tokens[1:]
    done = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "MAKEFLAGS": ""})
    assert done.returncode == 0, f"{' '.join(tokens)}: {done.stderr.strip()[-2000:]}"


@pytest.mark.parametrize("path, number, tokens, exported", CASES,
                         ids=[f"{c[0].relative_to(ROOT)}:{' '.join(c[2][:4])}" for c in CASES])
def test_documented_command_exists_with_its_options(path, number, tokens, exported, tmp_path):
    if tokens[0] == "make":
        if shutil.which("make") is None:
            pytest.skip("GNU make is not installed")
        make_dry_run(tokens, exported, tmp_path)
    else:
        parse_only(tokens[2], tokens[3:])


def test_the_docs_show_commands():
    """The reader above finds the commands (a broken reader would pass every doc)."""
    readme = {" ".join(tokens[:3]) for _, tokens, _ in commands(ROOT / "README.md")}
    assert {"make demo", "python -m calib", "python -m export", "python -m eval"} <= {c.split(" --")[0] for c in readme}
    assert len(CASES) >= 40


def test_the_reader_joins_continuations_and_reads_both_block_kinds():
    text = ("intro\n\n    make demo   # a comment\n    python -m calib --weights w.pt \\\n        --imgsz 320\n"
            "text\n```\nexport WEIGHTS=a.pt\nmake calibrate && python -m results render\nprinted output\n```\n")
    found = [(tokens, exported) for _, tokens, exported in commands_in(text)]
    assert found == [(["make", "demo"], {}), (["python", "-m", "calib", "--weights", "w.pt", "--imgsz", "320"], {}),
                     (["make", "calibrate"], {"WEIGHTS": "a.pt"}),
                     (["python", "-m", "results", "render"], {"WEIGHTS": "a.pt"})]


def test_a_renamed_option_is_caught():
    with pytest.raises(pytest.fail.Exception, match="unrecognized arguments: --no-such-option"):
        parse_only("calib", ["--no-such-option"])


def test_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"
    text = "\n".join(lines)
    for needed in ("make gpu-check", "never run on a GPU", "docs/"):
        assert needed in text


LINK = re.compile(r"\]\((?!https?://|#|mailto:)([^)#\s]+)")


def test_history_says_it_is_history():
    assert "**history, not regenerated and not checked against the code since**" in HISTORY.read_text()


@pytest.mark.parametrize("path", [*DOCS, HISTORY, *sorted((ROOT / "docs" / "results").glob("*.md"))],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    missing = [link for link in LINK.findall(path.read_text()) if not (path.parent / link).exists()]
    assert not missing, f"{path.relative_to(ROOT)} links to missing {missing}"
