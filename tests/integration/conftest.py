"""Fixtures of the adapter tests on the database under test (TEST_DATABASE=sqlite or postgresql)."""
from __future__ import annotations

from typing import Iterator

import pytest

from adapters.peewee_uow import PeeweeUnitOfWorkFactory


@pytest.fixture
def factory(database_url: str) -> Iterator[PeeweeUnitOfWorkFactory]:
    """The peewee unit of work on a fresh schema of the test's own database."""
    database = PeeweeUnitOfWorkFactory(database_url)
    database.create_tables()
    yield database
    database.close()
