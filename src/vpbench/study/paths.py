"""Every path the workflow reads or writes, in one place: templates for rules, functions for code.

Templates use Snakemake wildcard syntax (``{dataset}``); the functions fill them. Shared resources
(downloads, caches, splits) live under ``resources/`` and are keyed by what they contain, never by the
study that asked for them; everything a study produces lives under ``results/<study>/``.
The one undeclared location is ``results/<study>/checkpoints/``: resumable training state that must
survive a killed job (Snakemake deletes a failed job's outputs), cleared when the cell finishes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vpbench.study.grid import Cell
    from vpbench.study.spec import Study

CELL_DIR = "results/{study}/cells/{dataset}/{model}/{variant}/{method}/{shots}shot/seed{seed}"
CHECKPOINT_DIR = "results/{study}/checkpoints/{dataset}/{model}/{variant}/{method}/{shots}shot/seed{seed}"
CELL_FILES: tuple[str, ...] = (
    "metrics.parquet",
    "epochs.parquet",
    "classes.parquet",
    "test_probs.npy",
    "test_labels.npy",
    "prompt.pt",
    "cell.json",
)
PROMPT_HISTORY = "prompt_history.npy"
VARIANT_DIR = "results/{study}/models/{model}/{variant}"
CARD = VARIANT_DIR + "/card.json"
IMAGENET_TOP1 = VARIANT_DIR + "/imagenet_top1.json"
DATASET_ACQUIRED = "resources/acquired/{dataset}.json"
WEIGHTS_ACQUIRED = "{weights_dir}/{family}/acquired.json"
CACHE_DIR = "resources/cache/{dataset}/{split}-{size}px-{resize}"
CACHE_LABELS = f"{CACHE_DIR}/labels.npy"
CACHE_MANIFEST = f"{CACHE_DIR}/manifest.json"
SPLIT_FILE = "resources/splits/{dataset}/{mode}/{shots}shot-seed{seed}.json"
TEXT_EMBEDDINGS = "results/{study}/text/{model}/{variant}/{dataset}-{templates}.pt"
TEXT_EMBEDDINGS_SHA256 = f"{TEXT_EMBEDDINGS}.sha256"
FEATURES = "results/{study}/features/{model}/{variant}/{dataset}-{split}.npy"
FEATURES_META = "results/{study}/features/{model}/{variant}/{dataset}-{split}.json"
TABLES_DIR = "results/{study}/tables"
FIGURES_DIR = "results/{study}/figures"
CELL_LOG = "logs/train_cell/{study}/{dataset}/{model}/{variant}/{method}/{shots}shot/seed{seed}.log"
PACK_LOG = "logs/train_pack/{study}/{dataset}/{model}/{variant}/{method}/seed{seed}.log"


def cell_dir(cell: Cell) -> str:
    """The output folder of ``cell``."""
    return CELL_DIR.format(**cell.fields())


def checkpoint_dir(cell: Cell) -> str:
    """The resumable-state folder of ``cell``."""
    return CHECKPOINT_DIR.format(**cell.fields())


def cell_files(study: Study) -> tuple[str, ...]:
    """The files every cell of ``study`` writes (the prompt history only when the study keeps it)."""
    return CELL_FILES + ((PROMPT_HISTORY,) if study.training.save_prompt_history else ())


def cell_log(cell: Cell) -> str:
    """Where the job that trains ``cell`` alone logs."""
    return CELL_LOG.format(**cell.fields())


def parse_cell_dir(path: str | Path) -> dict[str, object] | None:
    """Identifiers of a cell folder path laid out as :data:`CELL_DIR`, or None if it is not one."""
    parts = Path(path).parts
    if len(parts) < 8 or parts[-7] != "cells" or not parts[-2].endswith("shot"):
        return None
    seed = parts[-1].removeprefix("seed")
    if not parts[-1].startswith("seed") or not seed.isdigit():
        return None
    return {
        "study": parts[-8], "dataset": parts[-6], "model": parts[-5], "variant": parts[-4],
        "method": parts[-3], "shots": parts[-2].removesuffix("shot"), "seed": int(seed),
    }  # fmt: skip


def variant_dir(study: str, model: str, variant: str) -> str:
    """The folder holding a variant's card (and in-pipeline weights)."""
    return VARIANT_DIR.format(study=study, model=model, variant=variant)


def card(study: str, model: str, variant: str) -> str:
    """A variant's ``card.json``."""
    return CARD.format(study=study, model=model, variant=variant)


def weights_acquired(study: Study, family: str) -> str:
    """The marker proving a family's (or user checkpoint's) weights are verified on disk."""
    return WEIGHTS_ACQUIRED.format(weights_dir=study.weights_dir, family=family)


def cache_dir(dataset: str, split: str, size: int, resize: str = "square") -> str:
    """A uint8 (or token) cache folder of one dataset split at one input size."""
    return CACHE_DIR.format(dataset=dataset, split=split, size=size, resize=resize)


def cache_manifest(dataset: str, split: str, size: int, resize: str = "square") -> str:
    """The manifest of a cache folder (what rules depend on)."""
    return CACHE_MANIFEST.format(dataset=dataset, split=split, size=size, resize=resize)


def split_file(dataset: str, mode: str, shots: str, seed: int) -> str:
    """The N-shot index file of (dataset, N, seed) under a sampling mode."""
    return SPLIT_FILE.format(dataset=dataset, mode=mode, shots=shots, seed=seed)


def text_embeddings(study: str, model: str, variant: str, dataset: str, templates: str) -> str:
    """CLIP text embeddings of one (variant, dataset, template set)."""
    return TEXT_EMBEDDINGS.format(
        study=study, model=model, variant=variant, dataset=dataset, templates=templates
    )


def features(study: str, model: str, variant: str, dataset: str, split: str) -> str:
    """Penultimate features of one (variant, dataset, split), for the linear probe."""
    return FEATURES.format(study=study, model=model, variant=variant, dataset=dataset, split=split)


def table(study: str, name: str, ext: str = "parquet") -> str:
    """An aggregated table of the study."""
    return f"{TABLES_DIR.format(study=study)}/{name}.{ext}"


def status(study: str) -> str:
    """The record written when every cell of the run succeeded (the last target of ``all``)."""
    return f"results/{study}/status.json"


def figure(study: str, stem: str) -> str:
    """A figure's SVG (its PNG twin sits beside it)."""
    return f"{FIGURES_DIR.format(study=study)}/{stem}.svg"
