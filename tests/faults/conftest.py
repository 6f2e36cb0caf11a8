"""Fixtures shared with the rest of the suite (imported, not copied) and the faultless reference run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.test_cell import _run, workspace  # noqa: F401  (workspace: caches, split, dense + mag50 variants)
from tests.models.conftest import forbid_torch_load  # noqa: F401  (torch.load fails the test)


@pytest.fixture(scope="module")
def reference(workspace, tmp_path_factory) -> Path:  # noqa: F811
    """The dense cell run once without faults: what every interrupted or failed-then-rerun cell must equal."""
    root, config = workspace
    out = tmp_path_factory.mktemp("reference") / "cell"
    _run(root, config, "dense", out)
    return out
