"""N-shot training subsets (docs/nshot.md), made once per (dataset, shots, seed) and shared by all cells.

Per class in ascending label order: shuffle that class's train indices, keep the first N; concatenate the
kept indices and shuffle once more. The default RNG is a dedicated ``Generator(PCG64(seed))``;
``paper_compat=True`` uses ``RandomState(seed)`` with the same calls in the same order, which reproduces the
authors' fork (global numpy RNG seeded right before sampling). ``shots=None`` is the full train split.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vpbench.errors import CacheCorruptError, ConfigError
from vpbench.runtime.atomic_io import write_json

FULL = "full"
DEFAULT_GENERATOR = "numpy.random.Generator(PCG64(seed))"
PAPER_GENERATOR = "numpy.random.RandomState(seed) (paper-compatible)"


def labels_digest(labels: np.ndarray) -> str:
    """sha256 of the labels as little-endian int64 bytes: identifies the train split a subset indexes."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype="<i8").tobytes()).hexdigest()


def nshot_indices(labels: np.ndarray, shots: int | None, seed: int, paper_compat: bool = False) -> np.ndarray:
    """Indices into ``labels`` of an N-shot subset
    (docs/nshot.md); ``shots=None`` returns every index, sorted.

    Classes with fewer than N items contribute all of them (the effective N is recorded by ``write_split``).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {labels.shape}")
    if shots is None:
        return np.arange(len(labels), dtype=np.int64)
    if isinstance(shots, bool) or not isinstance(shots, (int, np.integer)) or shots < 1:
        raise ConfigError(f"shots must be a positive integer or 'full', got {shots!r}")
    rng: np.random.RandomState | np.random.Generator
    rng = np.random.RandomState(seed) if paper_compat else np.random.Generator(np.random.PCG64(seed))
    kept = []
    for label in np.unique(labels):  # ascending
        members = np.flatnonzero(labels == label).astype(np.int64)
        rng.shuffle(members)
        kept.append(members[:shots])
    chosen = np.concatenate(kept) if kept else np.empty(0, dtype=np.int64)
    rng.shuffle(chosen)
    return chosen


@dataclass(frozen=True)
class NShotSplit:
    """A stored N-shot subset and what it means (see ``write_split`` for the fields)."""

    dataset: str
    shots: int | None  # None = full
    seed: int
    indices: np.ndarray
    effective_shots: int
    per_class_shots: tuple[int, ...]
    is_full: bool
    labels_sha256: str
    paper_compat: bool
    record: dict[str, Any]


def split_record(
    dataset: str, shots: int | None, seed: int, labels: np.ndarray, paper_compat: bool = False
) -> dict[str, Any]:
    """Compute an N-shot subset and its JSON record.

    ``effective_shots`` is min(N, smallest class count); ``per_class_shots[c]`` counts class c in the
    subset; ``is_full`` is true when the subset is the whole train split (every class has at most N items).
    """
    labels = np.asarray(labels, dtype=np.int64)
    indices = nshot_indices(labels, shots, seed, paper_compat)
    counts = np.bincount(labels) if labels.size else np.zeros(0, dtype=np.int64)
    present = counts[counts > 0]
    smallest = int(present.min()) if present.size else 0
    effective = smallest if shots is None else min(int(shots), smallest)
    return {
        "dataset": dataset,
        "shots": FULL if shots is None else int(shots),
        "seed": int(seed),
        "indices": indices.tolist(),
        "count": len(indices),
        "effective_shots": effective,
        "per_class_shots": np.bincount(labels[indices], minlength=len(counts)).tolist(),
        "train_class_counts": counts.tolist(),
        "is_full": bool(shots is None or present.size == 0 or int(present.max()) <= int(shots)),
        "labels_sha256": labels_digest(labels),
        "paper_compat": bool(paper_compat),
        "generator": PAPER_GENERATOR if paper_compat else DEFAULT_GENERATOR,
    }


def write_split(
    path: Path, dataset: str, shots: int | None, seed: int, labels: np.ndarray, paper_compat: bool = False
) -> dict[str, Any]:
    """Compute the subset for (dataset, shots, seed) over train ``labels``; write it atomically as JSON."""
    record = split_record(dataset, shots, seed, labels, paper_compat)
    write_json(path, record)
    return record


def parse_shots(value: int | str | None) -> int | None:
    """``'full'``/``None`` -> None, a positive integer (or its string) -> int; else :class:`ConfigError`."""
    if value is None or value == FULL:
        return None
    try:
        shots = int(value)
    except (TypeError, ValueError):
        shots = 0
    if shots < 1 or isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ConfigError(f"shots must be a positive integer or 'full', got {value!r}")
    return shots


def load_split(path: Path, labels: np.ndarray | None = None) -> NShotSplit:
    """Read a split file; with ``labels``, check it was drawn from exactly these train labels."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        indices = np.asarray(record["indices"], dtype=np.int64)
        split = NShotSplit(
            dataset=record["dataset"],
            shots=parse_shots(record["shots"]),
            seed=int(record["seed"]),
            indices=indices,
            effective_shots=int(record["effective_shots"]),
            per_class_shots=tuple(int(n) for n in record["per_class_shots"]),
            is_full=bool(record["is_full"]),
            labels_sha256=record["labels_sha256"],
            paper_compat=bool(record["paper_compat"]),
            record=record,
        )
    except (OSError, ValueError, KeyError, TypeError, ConfigError) as exc:
        raise CacheCorruptError(f"unreadable N-shot split file {path}: {exc}; regenerate it") from exc
    if labels is not None:
        actual = labels_digest(np.asarray(labels))
        if actual != split.labels_sha256:
            raise CacheCorruptError(
                f"N-shot split {path} was drawn from other train labels "
                f"(labels_sha256 {split.labels_sha256}, cache has {actual}); "
                "regenerate the split for this cache"
            )
        if indices.size and (indices.min() < 0 or indices.max() >= len(labels)):
            raise CacheCorruptError(f"N-shot split {path} has indices outside 0..{len(labels) - 1}")
    return split
