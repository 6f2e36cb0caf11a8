"""Fixtures for figure tests: one synthetic aggregated study shared by the session."""

from __future__ import annotations

import pytest

from tests.results.figures.synthetic_study import make_study


@pytest.fixture(scope="session")
def study():
    """Aggregated cells/epochs/classes frames of the synthetic study (read-only: copy before mutating)."""
    return make_study()
