"""Cells running at the same time: concurrent processes neither clobber one another nor change a result
(determinism on CPU), and their real outputs aggregate, or fail to, naming the bad file."""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path

import pytest

from tests.engine.test_cell import _run
from tests.faults.cell_processes import EXPECTED_FILES, CellProcess, assert_same_outputs, checkpoint_dir
from vpbench.results.aggregate import CellOutputError, collect_cells
from vpbench.study.grid import Cell

pytestmark = pytest.mark.slow
VARIANTS = ("dense", "mag50")


def _cell_dir(results: Path, variant: str) -> Path:
    """Where the workflow would put the engine cell test.s cell for ``variant`` (aggregation parses it)."""
    return results / Cell("unit", "digits", "mobilenet_v2", variant, "ilm", "2", 1).directory


def _run_concurrently(root: Path, jobs: list[tuple[str, Path]], status_root: Path) -> None:
    """Run each (variant, output folder) in its own process, all at once; every one must succeed."""
    with contextlib.ExitStack() as stack:
        processes = [
            stack.enter_context(CellProcess(root, out, status_root / f"status-{index}", variant=variant))
            for index, (variant, out) in enumerate(jobs)
        ]
        codes = [process.join() for process in processes]
    assert codes == [0] * len(jobs), [process.error() for process in processes]


@pytest.fixture(scope="module")
def serial(workspace, reference, tmp_path_factory) -> dict[str, Path]:
    """Each variant's cell run alone, one after the other (dense: the shared reference run)."""
    root, config = workspace
    mag50 = tmp_path_factory.mktemp("serial-mag50") / "cell"
    _run(root, config, "mag50", mag50)
    return {"dense": reference, "mag50": mag50}


@pytest.fixture(scope="module")
def concurrent_results(workspace, tmp_path_factory) -> Path:
    """A results tree in which the dense and the mag50 cell were trained and written at the same time."""
    root, _ = workspace
    base = tmp_path_factory.mktemp("concurrent")
    _run_concurrently(root, [(v, _cell_dir(base / "tree", v)) for v in VARIANTS], base)
    return base / "tree"


def test_two_cells_in_concurrent_processes_equal_their_serial_runs(concurrent_results, serial):
    """Fault: two cells (dense, 50%-pruned) train and write into one results tree at the same time.
    Expected: each cell's outputs equal its serial run exactly (CPU determinism), with only its own files."""
    for variant in VARIANTS:
        out = _cell_dir(concurrent_results, variant)
        assert_same_outputs(serial[variant], out)
        assert {path.name for path in out.iterdir()} == EXPECTED_FILES


def test_the_same_cell_in_two_concurrent_processes_ends_complete_and_correct(workspace, reference, tmp_path):
    """Fault: the same cell runs twice at once into one folder (sharing its checkpoint folder too).
    Expected: both succeed; every output is complete and equals the serial run; no temporaries remain."""
    root, _ = workspace
    out = tmp_path / "cell"
    _run_concurrently(root, [("dense", out), ("dense", out)], tmp_path)
    assert_same_outputs(reference, out)
    assert {path.name for path in out.iterdir()} == EXPECTED_FILES
    assert not checkpoint_dir(out).exists()


@pytest.fixture
def results(concurrent_results, tmp_path) -> Path:
    """A private copy of the concurrently produced results tree, free to damage."""
    return Path(shutil.copytree(concurrent_results, tmp_path / "tree"))


def test_real_cell_outputs_aggregate(results):
    """Baseline: the two real cells aggregate into one row each, with identifiers parsed as written."""
    frames = collect_cells([_cell_dir(results, v) for v in VARIANTS])
    assert sorted(frames["cells"]["variant"]) == list(VARIANTS) and frames["missing"].empty
    assert len(frames["classes"]) == 2 * 10 and len(frames["epochs"]) == 2 * 4


def test_a_truncated_metrics_file_is_an_error_naming_it(results):
    """Fault: a real cell's metrics.parquet is cut in half (e.g. copied off a full disk). Expected:
    CellOutputError naming that file as unreadable."""
    metrics = _cell_dir(results, "dense") / "metrics.parquet"
    metrics.write_bytes(metrics.read_bytes()[: metrics.stat().st_size // 2])
    named = r"dense/ilm/2shot/seed1/metrics\.parquet is unreadable"
    with pytest.raises(CellOutputError, match=named) as info:
        collect_cells([_cell_dir(results, v) for v in VARIANTS])
    assert info.value.path == metrics


def test_a_missing_metrics_file_is_an_error_naming_it(results):
    """Fault: a real cell's metrics.parquet is missing (the cell never finished). Expected:
    CellOutputError naming that file as missing."""
    (_cell_dir(results, "mag50") / "metrics.parquet").unlink()
    with pytest.raises(CellOutputError, match=r"mag50/ilm/2shot/seed1/metrics\.parquet is missing"):
        collect_cells([_cell_dir(results, v) for v in VARIANTS])


def test_allow_missing_reports_broken_cells_instead_of_failing(results):
    """Fault: one cell's metrics is truncated and the other's is missing. Expected: with
    ``allow_missing=True`` no error; both cells are listed in ``missing`` with identifiers, file, reason."""
    dense, mag50 = (_cell_dir(results, v) for v in VARIANTS)
    (dense / "metrics.parquet").write_bytes((dense / "metrics.parquet").read_bytes()[:100])
    (mag50 / "metrics.parquet").unlink()
    frames = collect_cells([dense, mag50], allow_missing=True)
    assert frames["cells"].empty
    missing = frames["missing"].set_index("variant")
    assert missing.loc["dense", "reason"].startswith("unreadable")
    assert missing.loc["mag50", "reason"] == "missing"
    assert set(missing["file"]) == {"metrics.parquet"}
    assert (missing["shots"] == "2").all() and (missing["seed"] == 1).all()
