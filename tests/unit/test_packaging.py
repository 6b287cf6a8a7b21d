"""How the project installs: `pip install -e .` (what `make run` and `make test` do first)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ("core", "adapters", "rest_api", "graphql_api", "reso_api", "storage_api", "web_console", "ops")


def _shipped_directories() -> set[str]:
    """Every directory of the top-level packages that holds a file, as a dotted name."""
    found = set()
    for top in TOP_LEVEL:
        for path in (ROOT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                found.add(".".join(path.parent.relative_to(ROOT).parts))
    return found


def test_every_directory_with_code_or_data_is_a_listed_package():
    """setuptools counts a directory of data files (schema/, static/, templates/) as a package too, and
    warns about each one the `packages` configuration leaves out: some 250 lines on every install."""
    from setuptools.config.setupcfg import read_configuration

    packages = set(read_configuration(str(ROOT / "setup.cfg"))["options"]["packages"])
    assert _shipped_directories() - packages == set()
    assert not any("__pycache__" in name for name in packages)
    assert {name.split(".")[0] for name in packages} == set(TOP_LEVEL), "nothing else (tests, bench) is installed"


def test_an_editable_install_puts_the_repository_on_the_path():
    """With the root package directory named, setuptools' editable install is a plain .pth entry for the
    repository, silently; without it, an import hook announced by a notice on every install."""
    from setuptools.config.setupcfg import read_configuration

    assert read_configuration(str(ROOT / "setup.cfg"))["options"]["package_dir"] == {"": "."}
