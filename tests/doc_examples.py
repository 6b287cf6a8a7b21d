"""Running the shell examples of a Markdown document, so that what the documentation shows stays true.

A document's ```sh blocks are run in order, in one bash (`set -euo pipefail`), so variables and
functions set by one block serve the next ones, as they would for a person pasting them into a terminal.
Other fences (```sh-not-run, ```text, ...) are shown to readers only.

The ```json blocks after an ```sh block (before the next one) are the answers it prints, in order. The
answer a live gateway gives must have the same shape: the same keys, lists of the same length, values of
the same JSON type, and the same value where the document's is a boolean, null or an enum-like word
(`APPROVED`, `PROPERTY_IMAGE`): ids, URLs, times and sizes differ from run to run, the rest may not.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_ENUM_LIKE = re.compile(r"^[A-Z][A-Z0-9_]+$")
_MARKER = "@@@ doc example {} @@@"


@dataclass
class Example:
    line: int
    code: str
    answers: list[Any] = field(default_factory=list)

    def __str__(self) -> str:
        return f"the example at line {self.line}:\n{self.code}"


def examples(path: Path) -> list[Example]:
    """The document's ```sh blocks, each with the ```json answers that follow it."""
    found: list[Example] = []
    text = path.read_text()
    for match in _FENCE.finditer(text):
        info, body = match.group(1).strip(), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if info == "sh":
            found.append(Example(line, body))
        elif info == "json" and found:
            found[-1].answers.append(json.loads(body))
    return found


@dataclass
class Ran:
    example: Example
    output: str

    @property
    def documents(self) -> list[Any]:
        """The JSON documents the example printed, in order (lines of other text are skipped)."""
        decoder, found, position, text = json.JSONDecoder(), [], 0, self.output
        while position < len(text):
            if text[position].isspace():
                position += 1
                continue
            try:
                document, position = decoder.raw_decode(text, position)
                found.append(document)
            except ValueError:
                newline = text.find("\n", position)
                position = len(text) if newline < 0 else newline + 1
        return found


def run(found: list[Example], env: dict[str, str], cwd: Path, timeout: float) -> list[Ran]:
    """Runs every example in one bash; fails (AssertionError) naming the example that failed.

    bash runs in a process group of its own, whose every member is stopped afterwards: an example may
    start servers in the background (and should stop them itself; this is the safety net). Its output goes
    to files, not pipes, which such a server would hold open.
    """
    script = ["set -euo pipefail"]
    for number, example in enumerate(found):
        script += [f"printf '\\n%s\\n' '{_MARKER.format(number)}'", example.code]
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(["bash", "-c", "\n".join(script)], env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                   stdout=stdout, stderr=stderr, text=True, start_new_session=True)
        try:
            returncode = process.wait(timeout)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            _stop_group(process.pid)
            process.wait()
        stdout.seek(0)
        stderr.seek(0)
        printed, errors = stdout.read(), stderr.read()
    parts = re.split(r"^@@@ doc example (\d+) @@@$", printed, flags=re.MULTILINE)
    outputs = {int(number): output for number, output in zip(parts[1::2], parts[2::2])}
    if returncode != 0:
        last = max(outputs, default=0)
        ended = f"did not end within {timeout:.0f} s" if returncode is None else f"exited with {returncode}"
        raise AssertionError(f"{found[last]}\n{ended}; it printed:\n{outputs.get(last, '')[-3000:]}"
                             f"\nstderr:\n{errors[-3000:]}")
    return [Ran(example, outputs.get(number, "")) for number, example in enumerate(found)]


def _stop_group(group: int) -> None:
    """SIGTERM to what is left of the group, then SIGKILL to what does not end within a minute."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def differences(documented: Any, actual: Any, where: str = "") -> list[str]:
    """How `actual` differs in shape (or in a value that must not differ) from `documented`."""
    if isinstance(documented, dict):
        if not isinstance(actual, dict):
            return [f"{where or '.'}: documented an object, got {json.dumps(actual)[:200]}"]
        if set(documented) != set(actual):
            return [f"{where or '.'}: documented keys {sorted(documented)}, got {sorted(actual)}"]
        return [d for key in documented for d in differences(documented[key], actual[key], f"{where}.{key}")]
    if isinstance(documented, list):
        if not isinstance(actual, list) or len(actual) != len(documented):
            return [f"{where}: documented a list of {len(documented)}, got {json.dumps(actual)[:200]}"]
        return [d for n, (a, b) in enumerate(zip(documented, actual)) for d in differences(a, b, f"{where}[{n}]")]
    if documented is None or isinstance(documented, bool) or (
            isinstance(documented, str) and _ENUM_LIKE.match(documented)):
        return [] if actual == documented else [f"{where}: documented {json.dumps(documented)}, got "
                                                f"{json.dumps(actual)}"]
    if type(documented) is not type(actual) and not (isinstance(documented, (int, float))
                                                     and type(actual) in (int, float)):
        return [f"{where}: documented a {type(documented).__name__}, got {json.dumps(actual)[:200]}"]
    return []


def check_answers(ran: list[Ran]) -> None:
    """Every documented answer is what its example printed (see `differences`)."""
    problems = []
    for result in ran:
        if not result.example.answers:
            continue
        printed = result.documents
        if len(printed) != len(result.example.answers):
            problems.append(f"{result.example}\ndocuments {len(result.example.answers)} answers, printed "
                            f"{len(printed)}:\n{result.output[-3000:]}")
            continue
        for documented, actual in zip(result.example.answers, printed):
            found = differences(documented, actual)
            if found:
                problems.append(f"{result.example}\n" + "\n".join(found))
    assert not problems, "\n\n".join(problems)
