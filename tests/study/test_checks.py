"""Issue 19's hostile studies: each is refused at planning, naming the key, the value and what is allowed.

Studies a job used to refuse (after variants and caches were written) or silently reinterpret. The pure
study rules run through ``load_study``; the machine-dependent ones (GPU, weights on disk, paths, class
sizes, the study files themselves) through ``plan_study`` with an explicit environment. The workflow
tests at the end show that Snakemake stops before any job, with nothing under ``results/``.
"""

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vpbench.errors import ConfigError
from vpbench.study.configfile import read_study_file
from vpbench.study.environment import Environment
from vpbench.study.loader import load_study, plan_study

ROOT = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((ROOT / "config.yaml").read_text())


def study(**changes) -> dict:
    """The demo study with dotted keys replaced (``training__lr`` → training.lr)."""
    config = copy.deepcopy(DEMO)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return config


def with_shots(*shots, **changes) -> dict:
    config = study(**changes)
    config["shots"] = [*shots]
    for recipe in (config["training"], config["training"]["method_overrides"]["cmr"]):
        recipe["batch_size"].update({str(s): 32 for s in shots})
    return config


# case → (config, fragments of the message)
REFUSED = {
    "seed 2**64": (study(seeds=[2**64]), ["seeds.0", "18446744073709551616", "maximum of 4294967295"]),
    "canvas smaller than the images": (
        study(prompt={"canvas": 16, "patch": 8}),
        ["prompt.canvas: 16 is smaller than the 32-px images of dataset", "at least 32"],
    ),
    "input size above the canvas": (
        study(datasets={"animal_mnist": {}, "digits": {"input_size": 128}, "synthetic_dna": {}}),
        ["prompt.canvas: 64 is smaller than the 128-px images of dataset 'digits'", "input_size ≤ 64"],
    ),
    "lr nan": (study(training__lr=float("nan")), ["training.lr: nan is not a finite number"]),
    "lr inf": (study(training__lr=float("inf")), ["training.lr: inf is not a finite number"]),
    "lr 1e38": (study(training__lr=1.0e38), ["training.lr: 1e+38 is greater than the maximum of 1000"]),
    "patch that does not divide the canvas": (
        study(prompt={"canvas": 64, "patch": 7}),
        ["prompt.patch: 7 does not divide prompt.canvas 64", "1, 2, 4, 8, 16, 32, 64"],
    ),
    "decreasing milestones": (
        study(training__milestones=[0.9, 0.1]),
        ["training.milestones: [0.9, 0.1] must be strictly increasing", "(0, 1]"],
    ),
    "gamma 1e308": (
        study(training__gamma=1e308),
        ["training.gamma: 1e+308 is greater than the maximum of 1"],
    ),
    "milestone 0": (study(training__milestones=[0, 0.5]), ["training.milestones.0", "less than or equal to"]),
    "epochs 1e12": (
        study(training__epochs=1_000_000_000_000),
        ["training.epochs: 1000000000000 is greater than the maximum of 1000000"],
    ),
    "epochs above the long-run limit": (
        study(training__epochs=5000),
        ["training.epochs: 5000 is above 1,000", "training.allow_long_runs: true"],
    ),
    "method override above the long-run limit": (
        study(training__method_overrides={"cmr": {"max_steps": 5_000_000}}),
        ["training.method_overrides.cmr.max_steps: 5000000 is above 1,000,000"],
    ),
    "bahng_vp next to rlm on a CNN": (
        study(methods=["rlm", "bahng_vp"]),
        [
            "methods: 'bahng_vp' pairs with no model and dataset of the study",
            "method 'bahng_vp' adapts clip models, and 'mobilenet_v2' is a classifier",
        ],
    ),
    "cross-modal method with image datasets only": (
        study(datasets={"digits": {}}, methods=["rlm", "cmr"], exclude=[]),
        ["methods: 'cmr' pairs with no model and dataset", "adapts text/dna datasets, and 'digits' is image"],
    ),
    "dataset no method adapts": (
        study(methods=["rlm"], exclude=[]),
        ["datasets: 'synthetic_dna' pairs with no model and method", "'synthetic_dna' is dna"],
    ),
    "exclude naming a dataset the study lacks": (
        study(exclude=[*DEMO["exclude"], {"dataset": "digts"}]),
        ["exclude.7.dataset: 'digts' is not in the study's datasets", "animal_mnist, digits, synthetic_dna"],
    ),
    "exclude naming a method the study lacks": (
        study(exclude=[*DEMO["exclude"], {"method": "ilmm"}]),
        ["exclude.7.method: 'ilmm' is not in the study's methods", "rlm, flm, ilm, cmr"],
    ),
    "exclude that matches no cell": (
        study(exclude=[*DEMO["exclude"], {"method": "cmr", "dataset": "digits"}]),
        ["exclude.7: {'method': 'cmr', 'dataset': 'digits'} matches no cell of the study"],
    ),
    "bad N-shot key in a method override's batch sizes": (
        study(training__method_overrides={"rlm": {"batch_size": {"ten": 8}}}),
        ["training.method_overrides.rlm.batch_size: key 'ten' is not allowed", "N-shot (a positive integer"],
    ),
    "303-character study name": (study(study="x" * 303), ["study: ", "is too long", "at most 64 characters"]),
    "model name with a slash": (
        study(models={"a/b": DEMO["models"]["mobilenet_v2"]}),
        ["models: key 'a/b' is not allowed", "a model name is a folder name"],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_hostile_study_is_refused_naming_key_value_and_what_is_allowed(case):
    config, fragments = REFUSED[case]
    with pytest.raises(ConfigError) as error:
        load_study(config)
    for fragment in fragments:
        assert fragment in str(error.value), f"{case}: {fragment!r} missing from: {error.value}"


def test_long_runs_and_listed_methods_that_pair_are_accepted():
    """The guards are not blanket bans: an explicit long run plans, and so does every shipped study."""
    assert load_study(study(training__epochs=5000, training__allow_long_runs=True)).cells
    for path in ("config.yaml", "tests/data/studies/tiny.yaml"):
        assert load_study(yaml.safe_load((ROOT / path).read_text())).cells


# ------------------------------------------------------------------------- machine-dependent checks


def plan(config: dict, workdir: Path, dry_run: bool = False, configfiles=()) -> list[str]:
    env = Environment(workdir=workdir, configfiles=tuple(configfiles), dry_run=dry_run, local_exec=True)
    return plan_study(config, env)[1]


def test_cuda_without_a_gpu_is_refused_before_a_local_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    with pytest.raises(ConfigError) as error:
        plan(study(device="cuda"), tmp_path)
    assert "device: 'cuda', but this machine" in str(error.value)
    assert "Allowed values here: 'auto' (CUDA where present, else CPU) or 'cpu'" in str(error.value)
    warnings = plan(study(device="cuda"), tmp_path, dry_run=True)  # -n still plans, and says why
    assert any("device: 'cuda'" in w and "a real run refuses to start" in w for w in warnings)


def test_a_variant_whose_weights_cannot_be_had_is_refused_before_any_job(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an empty resources/weights
    config = study()
    config["models"]["mobilenet_v2"]["variants"]["mag30"] = {
        "family": "resnet18",
        "compress": {"method": "magnitude", "scope": "global", "sparsity": 0.3},
    }
    with pytest.raises(ConfigError) as error:
        plan(config, tmp_path)
    message = str(error.value)
    assert "models.mobilenet_v2.variants.mag30: weights for model family 'resnet18'" in message
    assert "download is false in the study" in message and "resources/weights/resnet18/" in message


def test_absolute_weights_dir_outside_the_project_needs_an_explicit_allowance(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = study(paths={"weights_dir": "/nonexistent/weights"})
    with pytest.raises(ConfigError) as error:
        plan(config, tmp_path, dry_run=True)
    assert "paths.weights_dir: '/nonexistent/weights' lies outside the working directory" in str(error.value)
    assert "paths.allow_outside_project: true" in str(error.value)
    escaping = study(paths={"data_root": "../shared/raw"})
    with pytest.raises(ConfigError, match=r"paths.data_root: '../shared/raw' lies outside"):
        plan(escaping, tmp_path, dry_run=True)
    config["paths"]["allow_outside_project"] = True
    plan(config, tmp_path, dry_run=True)
    assert not Path("/nonexistent").exists()  # planning creates nothing


def test_shots_above_the_smallest_class_warn_and_record_or_refuse(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = with_shots(1, 10, 500, "full")
    warnings = plan(config, tmp_path)
    [warning] = [w for w in warnings if "digits" in w]
    assert "shots: 500 above the smallest training class of dataset 'digits' (116 items" in warning
    assert "effective_shots=116, is_full=True" in warning
    with pytest.raises(ConfigError) as error:
        plan(with_shots(1, 10, 500, "full", shots_above_class_size="refuse"), tmp_path)
    assert "shots: 500 above the smallest training class of dataset 'digits'" in str(error.value)
    assert "shots_above_class_size: cap" in str(error.value)


# ----------------------------------------------------------------------------------------- study files


def test_duplicate_keys_are_refused_naming_both_lines(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("study: demo\ntraining:\n  epochs: 10\n  lr: 0.1\n  epochs: 100\n")
    with pytest.raises(ConfigError) as error:
        read_study_file(path)
    assert f"{path}: key 'epochs' is given twice in one mapping (lines 3 and 5)" in str(error.value)


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system ['true']", "!!python/tuple [1, 2]"])
def test_python_object_tags_are_refused_as_such_not_as_whitespace(tmp_path, tag):
    path = tmp_path / "tagged.yaml"
    path.write_text(f"study: demo\nseeds: {tag}\n")
    with pytest.raises(ConfigError) as error:
        read_study_file(path)
    assert f"{path}, line 2: a Python-object tag (!!python/" in str(error.value)
    assert "tab" not in str(error.value)


# ------------------------------------------------------------- through Snakemake: nothing is written


def snakemake(tmp_path: Path, configfile: Path, *args: str) -> subprocess.CompletedProcess:
    work = tmp_path / "work"
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(configfile),
         "--directory", str(work), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_snakemake_refuses_duplicate_keys_it_would_have_merged(tmp_path):
    path = tmp_path / "dup.yaml"
    text = (ROOT / "config.yaml").read_text()
    path.write_text(text + "\nseeds: [2]\n")  # Snakemake itself would silently use seeds [2]
    result = snakemake(tmp_path, path)
    assert result.returncode != 0
    assert "key 'seeds' is given twice in one mapping" in result.stderr + result.stdout
    assert not (tmp_path / "work" / "results").exists() and not (tmp_path / "work" / "resources").exists()


def test_snakemake_refuses_a_study_that_cannot_run_here_before_any_job(tmp_path):
    """A real run (not -n) of a study whose variant weights are missing: refused while planning."""
    config = study()
    config["models"]["mobilenet_v2"]["variants"]["mag30"] = {"family": "resnet18"}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake(tmp_path, path)
    output = result.stderr + result.stdout
    assert result.returncode != 0
    assert "this study cannot run here; nothing was started" in output
    assert "weights for model family 'resnet18'" in output
    assert not (tmp_path / "work" / "results").exists() and not (tmp_path / "work" / "resources").exists()


def test_python_m_vpbench_study_names_what_snakemake_reports_as_whitespace(tmp_path, capsys):
    """Snakemake refuses a ``!!python/object`` tag in a --configfile itself, calling it a tab problem,
    before vpbench sees the file; ``python -m vpbench.study FILE`` names the tag and the line."""
    from vpbench.study.__main__ import main

    path = tmp_path / "tagged.yaml"
    path.write_text("study: demo\nseeds: !!python/object/apply:os.system ['true']\n")
    assert main([str(path), str(ROOT / "config.yaml")]) == 1
    captured = capsys.readouterr()
    assert f"{path}, line 2: a Python-object tag (!!python/object/apply:os.system)" in captured.err
    assert "study 'demo' is valid: 49 cells" in captured.out
