"""`make bench` is not part of `make test`, so a bench can rot unseen when the code it drives moves (the soak
bench once imported a module that had been split up). Importing each one here catches that in milliseconds."""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize("name", sorted(m.name for m in pkgutil.iter_modules([str(BENCH)])))
def test_every_bench_module_imports(name):
    importlib.import_module(f"bench.{name}")
