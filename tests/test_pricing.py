"""The grid priced before it runs (vpbench.cluster.pricing): the cost model on a synthetic study and table,
packs priced as the engine trains them, the comparison with Snakemake benchmark files, the committed CPU
fallback and the paper grid."""

from __future__ import annotations

import copy
import json
import math
import re
from pathlib import Path

import pytest
import yaml

from vpbench.cluster import price_report, pricing
from vpbench.cluster.cli import load_study_file
from vpbench.cluster.cli import main as cluster_main
from vpbench.cluster.throughput import ThroughputTable, assumed_gpu_table
from vpbench.data import DATASETS, get_dataset
from vpbench.engine.cell import LOCKSTEP_PAYS
from vpbench.study.loader import load_study

ROOT = Path(__file__).resolve().parents[1]
DEVICE = "cuda-Test-GPU"
TABLE = {
    "schema": 1,
    "devices": {
        DEVICE: {
            "kind": "cuda",
            "name": "Test GPU",
            "label": "synthetic",
            "entries": [
                {
                    "arch": "mobilenet_v2",
                    "canvas": 64,
                    "precision": "bf16",
                    "train": {"8": 100, "64": 400},
                    "eval": {"256": 1000},
                },
                {
                    "arch": "mobilenet_v2",
                    "canvas": 64,
                    "precision": "fp32",
                    "train": {"8": 50, "64": 200},
                    "eval": {"256": 500},
                    "gflops_train": 0.1,
                    "gflops_eval": 0.05,
                },
            ],
        },
        "cpu-test": {
            "kind": "cpu",
            "label": "CPU",
            "entries": [
                {
                    "arch": "mobilenet_v2",
                    "canvas": 224,
                    "precision": "fp32",
                    "train": {"8": 10},
                    "eval": {"32": 20},
                },
            ],
        },
    },
}
STUDY = {
    "study": "priced",
    "download": False,
    "device": "auto",
    "models": {
        "mobilenet_v2": {
            "family": "mobilenet_v2",
            "variants": {
                "dense": {},
                "mag50": {"compress": {"method": "magnitude", "scope": "global", "sparsity": 0.5}},
            },
        }
    },
    "datasets": {"digits": {}},
    "methods": ["rlm", "flm", "ilm"],
    "shots": [1, 10, "full"],
    "seeds": [1],
    "prompt": {"canvas": 64},
    "packing": {"enabled": True, "max_shots": 10},
    # bf16 on CUDA (the default is fp32): the table's bf16 entries price it, its fp32 ones count FLOPs
    "training": {"epochs": 10, "batch_size": {"1": 8, "10": 32, "full": 128}, "precision": "bf16"},
}
OVERHEAD = 30.0


def study_of(config: dict, **changes) -> object:
    """The typed study of ``config`` with top-level ``changes``."""
    return load_study({**copy.deepcopy(config), **copy.deepcopy(changes)})


@pytest.fixture(scope="module")
def table() -> ThroughputTable:
    return ThroughputTable.from_dict(TABLE)


@pytest.fixture(scope="module")
def priced(table) -> pricing.PricedGrid:
    return pricing.price_study(study_of(STUDY), table, device=DEVICE, overhead_s=OVERHEAD)


def _ips(points: dict[int, float], batch: float) -> float:
    """Log-linear interpolation written out independently of the module."""
    (b0, v0), (b1, v1) = sorted(points.items())
    return v0 + (math.log2(batch) - math.log2(b0)) / (math.log2(b1) - math.log2(b0)) * (v1 - v0)


def test_cell_work_counts_training_remapping_and_evaluation_images(priced):
    work = {w.cell.label: w for job in priced.jobs for w in job.cells}
    train, test = pricing.split_sizes("digits")
    ilm10 = work["digits/mobilenet_v2/dense/ilm/10shot/seed1"]
    assert (ilm10.train_images, ilm10.steps, ilm10.infer_images) == (10 * 100, 10 * 4, 10 * 100 + test + 100)
    rlm_full = work["digits/mobilenet_v2/dense/rlm/fullshot/seed1"]
    assert (rlm_full.train_images, rlm_full.infer_images) == (10 * train, test + train)  # never re-maps
    flm1 = work["digits/mobilenet_v2/mag50/flm/1shot/seed1"]
    assert (flm1.train_images, flm1.infer_images) == (10 * 10, 10 + test + 10)  # re-maps once
    assert ilm10.precision == "bf16" and ilm10.canvas == 64 and ilm10.arch == "mobilenet_v2"
    assert ilm10.family == "mobilenet_v2"


def test_max_steps_caps_the_training_images():
    study = study_of(STUDY, training={**STUDY["training"], "max_steps": 5})
    work = next(
        w
        for job in pricing.price_study(study, ThroughputTable.from_dict(TABLE), device=DEVICE).jobs
        for w in job.cells
        if w.cell.shots == "full" and w.cell.method == "rlm"
    )
    assert (work.steps, work.train_images) == (5, 5 * 128)


def test_jobs_are_planned_like_the_workflow_and_priced(priced):
    # a pack per (dataset, model, variant, method, seed) holds the 1- and 10-shot cells; full data alone
    assert priced.cells == 18
    assert sorted(j.rule for j in priced.jobs).count("train_pack") == 6
    assert sorted(j.rule for j in priced.jobs).count("train_cell") == 6
    solo = next(j for j in priced.jobs if j.name == "digits/mobilenet_v2/dense/rlm/fullshot/seed1")
    train, test = pricing.split_sizes("digits")
    expected = OVERHEAD + 10 * train / 400 + (test + train) / 1000  # batch 128 is beyond the table: flat
    assert solo.seconds == pytest.approx(expected)
    rows = {r["family"]: r for r in price_report.family_table(priced)}
    assert rows["mobilenet_v2"]["gpu_hours"] == pytest.approx(sum(j.seconds for j in priced.jobs) / 3600)
    assert rows["total"]["cells"] == 18 and rows["total"]["pack_jobs"] == 6


ILM_PACK = "digits/mobilenet_v2/dense/ilm/seed1"
# the pack's ILM members re-map every epoch: 1-shot (10 images) and 10-shot (100 images), 10 epochs each
ILM_INFER = (10 * 10 + 599 + 10) + (10 * 100 + 599 + 100)


def test_a_pack_pays_one_start_up_and_trains_as_the_engine_would(table):
    """Lockstep where the engine would use it (the study's packing.lockstep, else LOCKSTEP_PAYS per device
    type), one member after another otherwise; either way ONE job overhead for the whole pack."""
    always = study_of(STUDY, packing={**STUDY["packing"], "lockstep": "always"})
    lockstep = pricing.price_study(always, table, device=DEVICE, overhead_s=OVERHEAD)
    assert lockstep.lockstep
    pack = next(j for j in lockstep.jobs if j.name == ILM_PACK)
    assert [w.cell.label.split("/")[3:5] for w in pack.cells] == [["ilm", "1shot"], ["ilm", "10shot"]]
    images, steps = 10 * 10 + 10 * 100, max(10 * 2, 10 * 4)  # one concatenated batch per lockstep step
    assert pack.seconds == pytest.approx(
        OVERHEAD + images / _ips({8: 100, 64: 400}, images / steps) + ILM_INFER / 1000
    )
    never = study_of(STUDY, packing={**STUDY["packing"], "lockstep": "never"})
    sequential = pricing.price_study(never, table, device=DEVICE, overhead_s=OVERHEAD)
    assert not sequential.lockstep
    auto = pricing.price_study(study_of(STUDY), table, device=DEVICE, overhead_s=OVERHEAD)
    assert auto.lockstep == LOCKSTEP_PAYS["cuda"]
    pack = next(j for j in sequential.jobs if j.name == ILM_PACK)
    training = 10 * 10 / 100 + 10 * 100 / _ips({8: 100, 64: 400}, 32)  # batch 8, then batch 32
    assert pack.seconds == pytest.approx(OVERHEAD + training + ILM_INFER / 1000)
    alone = pricing.job_cost("train_cell", "x", pack.cells[:1], table, DEVICE, OVERHEAD)
    assert (
        pack.seconds
        < alone.seconds + pricing.job_cost("train_cell", "y", pack.cells[1:], table, DEVICE, OVERHEAD).seconds
    )  # the start-up is paid once


def test_cpu_devices_price_fp32_and_other_canvases_by_area(table):
    grid = pricing.price_study(study_of(STUDY), table, device="cpu-test", overhead_s=0)
    job = next(j for j in grid.jobs if j.name == "digits/mobilenet_v2/dense/rlm/fullshot/seed1")
    (work,) = job.cells
    assert work.precision == "fp32"
    assert "canvas 64 priced from 224 px by area" in job.note
    scale = (224 / 64) ** 2
    assert job.seconds == pytest.approx(work.train_images / (10 * scale) + work.infer_images / (20 * scale))


def test_unmeasured_architectures_are_reported_not_guessed(table):
    study = study_of(STUDY, models={"resnet18": {"family": "resnet18", "variants": {"dense": {}}}})
    grid = pricing.price_study(study, table, device=DEVICE)
    assert len(grid.unpriced) == len(grid.jobs) > 0
    assert "resnet18 was not measured on cuda-Test-GPU" in price_report.summary(grid)


def test_assumed_gpu_table_derives_throughput_from_flops(table):
    assumed = assumed_gpu_table(table, "A100", peak_tflops=312, mfu=0.25)
    entry, _ = assumed.lookup("assumed-A100", "mobilenet_v2", 64, "bf16")
    assert entry.train_ips(8) == pytest.approx(312e3 * 0.25 / 0.1)
    assert entry.eval_ips(256) == pytest.approx(312e3 * 0.25 / 0.05)
    assert assumed.devices["assumed-A100"]["label"].startswith("ASSUMED")


def _write_tsv(path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"s\th:m:s\tmax_rss\n{seconds}\t0:00:{seconds:02.0f}\t100.0\n")


def test_predicted_next_to_snakemake_benchmark_files(priced, tmp_path):
    root = tmp_path / "logs" / "benchmarks"
    solo = next(j for j in priced.jobs if j.name == "digits/mobilenet_v2/dense/rlm/fullshot/seed1")
    pack = next(j for j in priced.jobs if j.name == "digits/mobilenet_v2/mag50/ilm/seed1")
    _write_tsv(root / "train_cell/priced/digits/mobilenet_v2/dense/rlm/fullshot/seed1.tsv", 2 * solo.seconds)
    _write_tsv(root / "train_pack/priced/digits/mobilenet_v2/mag50/ilm/seed1.tsv", 0.5 * pack.seconds)
    _write_tsv(root / "train_cell/other/digits/mobilenet_v2/dense/rlm/fullshot/seed1.tsv", 1.0)  # other study
    actual = price_report.read_benchmarks(root, "priced")
    assert set(actual) == {("train_cell", solo.name), ("train_pack", pack.name)}
    rows = price_report.compare(priced, actual)
    ratios = {r["job"]: r["actual_over_predicted"] for r in rows}
    assert ratios == {solo.name: pytest.approx(2.0), pack.name: pytest.approx(0.5)}
    assert price_report.calibration(rows) == pytest.approx(1.25)


def test_render_csv_and_html(priced, tmp_path):
    text = price_report.render(priced, tmp_path / "grid.csv")
    assert (
        text.splitlines()[0] == "family,arch,cells,cell_jobs,pack_jobs,gpu_hours,longest_job_h,unpriced_jobs"
    )
    assert text.splitlines()[-1].startswith("total,,18,6,6,")
    html = price_report.render(priced, tmp_path / "grid.html")
    assert (tmp_path / "grid.html").read_text() == html
    assert "<table" in html and "priced on cuda-Test-GPU (synthetic)" in html


def test_cli_prices_a_study_file(tmp_path, capsys):
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(STUDY))
    (tmp_path / "table.json").write_text(json.dumps(TABLE))
    code = cluster_main(
        [
            "price",
            "--configfile",
            str(tmp_path / "study.yaml"),
            "--throughput",
            str(tmp_path / "table.json"),
            "--csv",
            str(tmp_path / "out.csv"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "study priced: 18 cells -> 12 SLURM training jobs (6 train_cell, 6 train_pack)" in out
    assert "device cuda-Test-GPU: synthetic" in out  # a measured GPU is preferred over the CPU
    assert (tmp_path / "out.csv").is_file()


def _numbers(text: str) -> set[int]:
    return {int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*\d|\d", text)}


def test_every_dataset_declares_split_sizes_its_split_policy_states():
    built_in = [n for n in DATASETS if type(get_dataset(n).reader).__module__.startswith("vpbench.")]
    assert len(built_in) >= 16
    for name in built_in:
        spec = get_dataset(name)
        assert spec.split_sizes is not None, f"{name}: no split_sizes, so its cells cannot be priced"
        train, test = pricing.split_sizes(name)
        stated = _numbers(spec.split_policy)
        if {train, test} <= stated:
            continue
        if name == "splice":  # 3,190 instances, test_size=0.2 (sklearn rounds the test part up)
            assert train + test == 3190 and test == math.ceil(0.2 * 3190)
        elif name == "animal_mnist":  # 800 / 200 per class
            assert (train, test) == (800 * spec.num_classes, 200 * spec.num_classes)
        elif name == "synthetic_dna":
            from vpbench.data.text_tasks import SYNTHETIC_COUNTS

            assert (train, test) == (
                SYNTHETIC_COUNTS["train"] * spec.num_classes,
                SYNTHETIC_COUNTS["test"] * spec.num_classes,
            )
        elif name == "digits":  # 1,797 images, test_size=1/3
            assert train + test == 1797 and test == math.ceil(1797 / 3)
        else:
            pytest.fail(f"{name}: ({train}, {test}) not found in its split policy: {spec.split_policy}")


def test_digits_split_sizes_match_the_reader():
    spec = get_dataset("digits")
    assert (
        len(spec.reader.open_split(None, "train", False)),
        len(spec.reader.open_split(None, "test", False)),
    ) == pricing.split_sizes("digits")


@pytest.fixture(scope="module")
def paper():
    return load_study_file(ROOT / "studies" / "paper.yaml")


def test_every_paper_family_maps_to_a_benchmarked_architecture(paper):
    for variant in paper.all_variants():
        assert pricing.architecture_of(variant.family), (
            f"{variant.model}/{variant.name}: {variant.family} has no benchmarked architecture"
        )
    assert pricing.architecture_of("upop_clip_vit_l14_336_coco_2x") == "clip_vit_l14_336"
    assert pricing.architecture_of("clip_vit_l14_openai") == "clip_vit_l14_224"
    assert pricing.architecture_of("lt_resnet50_k3") == "resnet50"


def test_the_committed_cpu_fallback_covers_the_paper_architectures():
    table = ThroughputTable.load()
    (device,) = table.devices
    assert table.devices[device]["kind"] == "cpu" and "CPU" in table.devices[device]["label"]
    for arch in ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "deit_tiny", "swin_tiny"):
        entry, note = table.lookup(device, arch, 224, "fp32")
        assert note == "" and entry.gflops_train > entry.gflops_eval > 0
    for arch, size in (("clip_vit_l14_224", 224), ("clip_vit_l14_336", 336)):
        assert table.lookup(device, arch, size, "fp32")[1] == ""


@pytest.mark.slow
def test_the_paper_grid_is_priced_in_full_on_the_cpu_fallback(paper):
    grid = pricing.price_study(paper)
    assert grid.cells == 18_759 and not grid.unpriced and not grid.lockstep  # a CPU trains packs in turn
    assert len(grid.jobs) == 7959 + 2160  # train_cell + train_pack jobs, as tests/test_cluster.py plans them
    assert {r["family"] for r in grid.by_family()} == {
        "resnet18",
        "resnet34",
        "resnet50_v2",
        "deit_tiny",
        "swin_tiny",
        "upop_clip_vit_l14_336_coco_uncompressed",
    }
