"""Studies never invalidate each other's shared resources (issue 19).

Before: a second study with another ``paths.data_root`` (or ``download``) changed the params of
``acquire_dataset`` for the shared ``resources/``, so Snakemake re-acquired the dataset, rebuilt its caches
and planned every cell of the first study again. Shared outputs now take no study-specific params.
"""

from __future__ import annotations

import copy

import yaml

from .support import TINY_STUDY

MARKER = "resources/acquired/digits.json"


def test_a_second_study_with_another_data_root_reuses_the_shared_acquisition(tmp_path, run_snakemake):
    first = yaml.safe_load(TINY_STUDY.read_text())
    second = copy.deepcopy(first)
    # only the study flag differs: the shared acquisition is reused and nothing is fetched
    second.update(study="tiny_other", download=True, paths={"data_root": "elsewhere/raw"})  # offline-ok
    for name, config in (("first", first), ("second", second)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(config))
    work = tmp_path / "work"
    # targets before --configfile: it takes several values and would swallow them
    run_snakemake(work, MARKER, "--cores", "1", "--configfile", str(tmp_path / "first.yaml"))
    acquired = (work / MARKER).stat().st_mtime_ns
    result = run_snakemake(work, MARKER, "--cores", "1", "--configfile", str(tmp_path / "second.yaml"))
    assert "Nothing to be done" in result.stdout, result.stdout[-2000:]
    assert (work / MARKER).stat().st_mtime_ns == acquired
