"""docs/production.md as an operator follows it, and the systemd units of deploy/ it installs.

The recipe's `sh` blocks run in order, from the repository's directory, with the repository's .venv (what
`make install` makes), moto's server, gunicorn, a render worker over Redis and the database under test
(a throw-away PostgreSQL database in the PostgreSQL pass). What needs sudo (apt-get, createuser) is not run.
The units are checked by `systemd-analyze verify`, and their commands are started as systemd would start
them, with the settings of an environment file.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tests import doc_examples
from tests.conftest import JWT_SECRET
from tests.servers import START_DEADLINE_S, wait_until_answering

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = ROOT / ".venv" / "bin"
DEPLOY = ROOT / "deploy"
INSTALLED_AT = "/opt/realty-gateway"
ENV_FILE = "/etc/realty-gateway/env"
DEADLINE_S = 900
"""The whole recipe: four servers started and stopped, a photo rendered; generous for a busy machine."""

pytestmark = [
    pytest.mark.skipif(not (VENV_BIN / "gunicorn").exists() or not (VENV_BIN / "moto_server").exists(),
                       reason="the recipe runs the repository's .venv (make install makes it, moto included)"),
    pytest.mark.skipif(not shutil.which("curl"), reason="the recipe uses curl"),
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def operator_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """An operator's shell: PATH and HOME, no AWS settings of the machine's, scratch files in tmp_path."""
    env = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL") if name in os.environ}
    env.update(TMPDIR=str(tmp_path), AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull,
               AWS_EC2_METADATA_DISABLED="true", **values)
    return env


def _left_files() -> set[str]:
    """Files in the checkout that git would show as new: bytecode caches and other ignored files are not a
    recipe's leftovers (whichever test process imports wsgi.py first writes its cache at the root)."""
    listed = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=ROOT, check=True,
                            capture_output=True, text=True)
    return set(listed.stdout.splitlines())


def test_the_production_recipe_runs_as_written(tmp_path, database_url, redis_url):
    env = operator_env(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url, PORT=str(free_port()),
                       S3_PORT=str(free_port()), LOGS=str(tmp_path / "logs"))
    before = _left_files()
    found = doc_examples.examples(ROOT / "docs" / "production.md")
    try:
        ran = doc_examples.run(found, env, ROOT, DEADLINE_S)
    except AssertionError as failed:
        logs = "\n".join(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
                         for log in sorted((tmp_path / "logs").glob("*.log")))
        raise AssertionError(f"{failed}\n{logs}") from None
    doc_examples.check_answers(ran)
    printed = "".join(result.output for result in ran)
    assert "database ready" in printed and "storage ready" in printed
    assert _left_files() - before == set(), "the recipe left files in the repository"


# --- deploy/ ------------------------------------------------------------------------------------------

def unit(name: str) -> dict[str, str]:
    """The [Service] settings of a unit file (the last value of a key, as systemd keeps it)."""
    settings, section = {}, None
    for line in (DEPLOY / name).read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#"))


def rendered(tmp_path: Path, env: Path) -> Path:
    """The units as installed here: the checkout is this repository, the settings `env`."""
    target = tmp_path / "units"
    target.mkdir()
    for source in DEPLOY.glob("*.service"):
        (target / source.name).write_text(source.read_text().replace(INSTALLED_AT, str(ROOT))
                                          .replace(ENV_FILE, str(env)))
    for source in DEPLOY.glob("*.timer"):
        shutil.copy(source, target / source.name)
    return target


def command(settings: dict[str, str], env: dict[str, str]) -> list[str]:
    """ExecStart as systemd runs it: ${NAME} replaced from the environment file, then split into words."""
    line = re.sub(r"\$\{(\w+)\}", lambda m: env[m.group(1)], settings["ExecStart"])
    return shlex.split(line.replace(INSTALLED_AT, str(ROOT)))


@pytest.fixture
def settings_file(tmp_path, database_url, redis_url) -> Path:
    path = tmp_path / "env"
    path.write_text("\n".join([
        f"AUTH_JWT_SECRET={JWT_SECRET}", f"DATABASE_URL={database_url}", f"STORAGE_URL=file://{tmp_path}/storage",
        f"REDIS_URL={redis_url}", f"BIND=127.0.0.1:{free_port()}", "WEB_CONCURRENCY=1", "WORKER_PROCESSES=1",
        "WORKER_THREADS=1"]) + "\n")
    return path


@contextmanager
def started(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`args` from the checkout's directory (the units' WorkingDirectory) until the block ends."""
    with open(log, "wb") as output:
        process = subprocess.Popen(args, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            yield process
        finally:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(150)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue


def test_the_units_restart_always_and_systemd_accepts_them(tmp_path, settings_file):
    for name in ("realty-gateway.service", "realty-worker.service"):
        service = unit(name)
        assert service["Restart"] == "always", name
        assert service["WorkingDirectory"] == INSTALLED_AT and service["EnvironmentFile"] == ENV_FILE
    assert unit("realty-gc.service")["ExecStart"].endswith("flask --app wsgi gc")
    example = env_file(DEPLOY / "env.example")
    used = {name for service in DEPLOY.glob("*.service") for name in re.findall(r"\$\{(\w+)\}", service.read_text())}
    assert used | {"AUTH_JWT_SECRET", "DATABASE_URL", "STORAGE_URL", "REDIS_URL"} <= set(example)

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze here to verify the units with (the rest was checked)")
    units = rendered(tmp_path, settings_file)
    verified = subprocess.run([analyze, "verify", *sorted(str(u) for u in units.iterdir())], capture_output=True,
                              text=True, timeout=120)
    assert verified.returncode == 0 and verified.stderr.strip() == "", verified.stderr


def test_the_units_commands_start_the_gateway_and_a_worker(tmp_path, settings_file):
    settings = env_file(settings_file)
    env = operator_env(tmp_path, **settings)
    gateway_log, worker_log = tmp_path / "gateway.log", tmp_path / "worker.log"
    with started(command(unit("realty-gateway.service"), settings), env, gateway_log) as gateway, \
            started(command(unit("realty-worker.service"), settings), env, worker_log) as worker:
        ready = wait_until_answering(f"http://{settings['BIND']}/readyz", gateway, gateway_log.read_text)
        assert ready.json()["checks"] == {"database": True, "storage": True}
        deadline = time.monotonic() + START_DEADLINE_S
        while "Worker process is ready for action." not in worker_log.read_text(errors="replace"):
            assert worker.poll() is None and time.monotonic() < deadline, worker_log.read_text(errors="replace")
            time.sleep(0.2)
