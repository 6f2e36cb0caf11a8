"""Token caches for text/DNA datasets: each split tokenized once, read by every cross-modal cell.

A folder holds ``tokens.npy`` (int64 N×L), ``labels.npy`` (int64 N), ``vocab.json`` for the word-level
tokenizer, and ``manifest.json`` (written last) with the same fields and sha256 logic as an image cache plus
``modality``, ``array_file``/``dtype`` (so :func:`vpbench.data.load_cache` opens either kind) and the
tokenizer record. ``input_size`` is the token length L here.

The word vocabulary is a deterministic function of the FULL train split: a test build recomputes it from
the train texts (or takes ``vocabulary=`` from the caller, e.g. :func:`load_vocabulary` of the train cache),
so test texts never shape it and train/test ids always agree (their manifests carry the same digest).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import vpbench
from vpbench.data.access import open_split
from vpbench.data.cache import (
    CACHE_FORMAT_VERSION,
    LABELS_FILE,
    MANIFEST_FILE,
    _limited_positions,
    verify_cache,
)
from vpbench.data.registry import get_dataset
from vpbench.data.tokenizers import Tokenizer, WordVocabulary, make_tokenizer
from vpbench.errors import CacheCorruptError, ConfigError
from vpbench.runtime.atomic_io import atomic_path, save_numpy, write_json, write_text
from vpbench.runtime.progress import progress_bar
from vpbench.sources.checksums import sha256_file

TOKENS_FILE = "tokens.npy"
VOCAB_FILE = "vocab.json"
ENCODE_CHUNK = 4096


def default_tokenizer(name: str) -> str:
    """The tokenizer a dataset uses unless told otherwise (``char`` for DNA, ``auto`` for text)."""
    return getattr(get_dataset(name).reader, "tokenizer", "auto")


def resolve_tokenizer(
    name: str,
    root: Path | None,
    tokenizer: str | None = None,
    *,
    verify_md5: bool = True,
    train_texts: Callable[[], Sequence[str]] | None = None,
) -> Tokenizer:
    """The tokenizer for ``name``'s caches; a word vocabulary is counted over the train split only."""

    def read_train() -> Sequence[str]:
        return open_split(name, "train", root, verify_md5).texts

    return make_tokenizer(tokenizer or default_tokenizer(name), train_texts or read_train)


def load_vocabulary(cache_dir: Path) -> WordVocabulary:
    """The verified word vocabulary of a (train) token cache, to hand to the test build."""
    manifest = verify_cache(cache_dir)
    if VOCAB_FILE not in manifest["sha256"]:
        raise ConfigError(
            f"cache {cache_dir} has no {VOCAB_FILE}: its tokenizer is {manifest.get('tokenizer')}"
        )
    return WordVocabulary.from_json((Path(cache_dir) / VOCAB_FILE).read_text(encoding="utf-8"))


def build_token_cache(
    name: str,
    split: str,
    root: Path | None,
    out_dir: Path,
    *,
    input_size: int | None = None,
    tokenizer: str | None = None,
    vocabulary: WordVocabulary | None = None,
    verify_md5: bool = True,
    progress: bool = True,
    limit_per_class: int | None = None,
) -> dict[str, Any]:
    """Tokenize one split of a text/DNA dataset to ``input_size`` tokens (registry default 512); return the
    manifest.

    ``tokenizer`` overrides the dataset's default; ``vocabulary`` (a train vocabulary) is used as it is;
    ``limit_per_class`` keeps the first items of each class, but never changes the vocabulary.
    """
    spec = get_dataset(name)
    length = spec.input_size if input_size is None else int(input_size)
    if length < 1:
        raise ConfigError(f"input_size (token length) must be a positive integer, got {input_size!r}")
    source = open_split(name, split, root, verify_md5)
    positions = _limited_positions(source.labels, limit_per_class)
    labels = source.labels[positions].astype(np.int64)
    if vocabulary is not None:
        encoder: Tokenizer = vocabulary
    else:
        own_texts = (lambda: source.texts) if split == "train" else None
        encoder = resolve_tokenizer(name, root, tokenizer, verify_md5=verify_md5, train_texts=own_texts)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_FILE).unlink(missing_ok=True)  # incomplete until the new manifest lands
    with atomic_path(out_dir / TOKENS_FILE) as tmp:
        tokens = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.int64, shape=(len(positions), length))
        with progress_bar(total=len(positions), desc=f"tokens {name}/{split}", enabled=progress) as bar:
            for start in range(0, len(positions), ENCODE_CHUNK):
                chunk = positions[start : start + ENCODE_CHUNK]
                tokens[start : start + len(chunk)] = encoder.encode([source.texts[p] for p in chunk], length)
                bar.update(len(chunk))
        tokens.flush()
        del tokens
    save_numpy(out_dir / LABELS_FILE, labels)
    checksums = {
        TOKENS_FILE: sha256_file(out_dir / TOKENS_FILE),
        LABELS_FILE: sha256_file(out_dir / LABELS_FILE),
    }
    if isinstance(encoder, WordVocabulary):
        write_text(out_dir / VOCAB_FILE, encoder.to_json())
        checksums[VOCAB_FILE] = sha256_file(out_dir / VOCAB_FILE)
    sources = getattr(spec.reader, "source_files", lambda root, split: [])(root, split)

    manifest = {
        "format_version": CACHE_FORMAT_VERSION,
        "dataset": name,
        "split": split,
        "modality": spec.modality,
        "input_size": length,
        "input_size_meaning": "token length L (sequences truncated, then padded with id 0)",
        "count": len(labels),
        "shape": [len(labels), length],
        "array_file": TOKENS_FILE,
        "dtype": "int64",
        "num_classes": spec.num_classes,
        "class_names": list(spec.class_names()),
        "class_counts": np.bincount(labels, minlength=spec.num_classes).tolist(),
        "split_policy": spec.split_policy,
        "tokenizer": encoder.record(),
        "vocab_size": encoder.vocab_size,
        "limit_per_class": limit_per_class,
        "sha256": checksums,
        "source_sha256": {path.name: sha256_file(path) for path in sources},
        "vpbench_version": vpbench.__version__,
    }
    write_json(out_dir / MANIFEST_FILE, manifest)
    return manifest


def check_same_tokenizer(train_manifest: dict[str, Any], test_manifest: dict[str, Any]) -> None:
    """Raise :class:`CacheCorruptError` unless two token caches share their tokenizer and vocabulary."""
    train, test = train_manifest.get("tokenizer"), test_manifest.get("tokenizer")
    if train is None or test is None:
        raise CacheCorruptError(
            f"{train_manifest['dataset']}: expected token caches (manifest key 'tokenizer'); rebuild them"
        )
    if json.dumps(train, sort_keys=True) != json.dumps(test, sort_keys=True):
        raise CacheCorruptError(
            f"{train_manifest['dataset']}: the train and test caches were tokenized differently "
            f"({train} vs {test}); rebuild both with the same tokenizer"
        )
