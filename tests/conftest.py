"""Shared set-up: integration tests are marked by folder, so `-m "not integration"` is honest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests run as local development: the built-in HS256 dev key signs their tokens (a service
# outside LAOTIE_ENV=local refuses it; tests/unit/test_errors_faults_auth.py shows that).
os.environ.setdefault("LAOTIE_ENV", "local")

INTEGRATION_DIR = Path(__file__).parent / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def pytest_configure(config: pytest.Config) -> None:
    # Services configure structlog when they start; unit tests build apps without starting
    # them, and structlog's defaults would render every traceback through rich (slow).
    from laotie_common.logs import configure_logging

    configure_logging("tests", fmt="console")
