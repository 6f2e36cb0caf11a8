"""Fixtures for figure tests: one synthetic aggregated study shared by the session."""

from __future__ import annotations

import pytest

from tests.results.figures.synthetic_study import make_study, with_statistics


@pytest.fixture(scope="session")
def study():
    """Aggregated cells/epochs/classes/reliability/missing frames of the synthetic study (read-only)."""
    return make_study()


@pytest.fixture(scope="session")
def study_with_stats(study):
    """The synthetic study with the stats rule's comparisons and intervals (read-only)."""
    return with_statistics(study)
