"""Acquiring a model family's verified weights file: pre-staged, assembled, packaged, downloaded or the
user's own file, always checked against its published (or first-seen pinned) sha256."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

from torch import nn

from vpbench.errors import ConfigError, MissingSourceError
from vpbench.models.registry import ModelFamily, WeightSource, get_model_family, load_family_weights
from vpbench.runtime import atomic_io
from vpbench.sources.checksums import verify_sha256
from vpbench.sources.download import fetch
from vpbench.sources.lock import LOCK_FILENAME, pinned_sha256_for, record_first_seen


def acquire_weights(
    family_name: str,
    dest_dir: str | Path,
    *,
    lock_path: str | Path | None = None,
    allow_network: bool = True,
    **fetch_options: Any,
) -> Path:
    """Return the verified weights file of ``family_name`` in ``dest_dir``, fetching it only if needed.

    Order: a pre-staged file with a good checksum (no network), a user-supplied file set the family
    assembles, a file shipped in an installed pip package (copied after verification), a download.
    Unpublished checksums are pinned first-seen in ``lock_path`` (default ``dest_dir/weights.lock.json``).
    """
    family = get_model_family(family_name)
    source = family.weights
    if source is None:
        raise ConfigError(f"model family {family_name!r} has no weight source to acquire")
    if source.local_path is not None:
        return verify_local_checkpoint(family)
    dest_dir = Path(dest_dir)
    dest = dest_dir / source.filename
    lock = Path(lock_path) if lock_path is not None else dest_dir / LOCK_FILENAME
    expected = source.sha256 or pinned_sha256_for(lock, family.name)
    if dest.is_file():
        _pin(family, lock, verify_sha256(dest, expected), dest)
        return dest
    if family.assemble is not None:
        return family.assemble(family, dest_dir, lock)
    if source.pip_package is not None and _packaged_file(source) is not None:
        return _copy_from_package(family, dest, expected, lock)
    if (source.urls or source.gdrive_id) and source.status != "not public":
        if not allow_network:
            raise MissingSourceError(missing_weights_message(family, dest, expected, "network access is off"))
        _pin(family, lock, fetch(source, dest, expected, **fetch_options), dest)
        return dest
    raise MissingSourceError(missing_weights_message(family, dest, expected))


def verify_local_checkpoint(family: ModelFamily) -> Path:
    """A user's declared checkpoint where it lies: sha256, safe load, strict architecture, compression.

    Every check a cell would make happens here, so a wrong file stops the run before any training.
    """
    assert family.weights is not None and family.weights.local_path is not None
    path = Path(family.weights.local_path)
    if not path.is_file():
        raise MissingSourceError(
            f"checkpoint {path} declared {family.weights.instructions} does not exist (expected sha256 "
            f"{family.weights.sha256})"
        )
    verify_sha256(path, family.weights.sha256)
    load_family_weights(family, path, pinned_sha256=family.weights.sha256)
    return path


def load_pretrained(
    family_name: str, dest_dir: str | Path, *, lock_path: str | Path | None = None, allow_network: bool = True
) -> nn.Module:
    """Acquire the family's weights (see :func:`acquire_weights`) and load them strictly, in eval mode."""
    family = get_model_family(family_name)
    lock = Path(lock_path) if lock_path is not None else Path(dest_dir) / LOCK_FILENAME
    path = acquire_weights(family_name, dest_dir, lock_path=lock, allow_network=allow_network)
    return load_family_weights(family, path, pinned_sha256=pinned_sha256_for(lock, family.name))


def missing_weights_message(family: ModelFamily, dest: Path, expected: str | None, reason: str = "") -> str:
    """What to place where, with which checksum, for a family whose file cannot be fetched."""
    source = family.weights
    assert source is not None
    checksum = expected or "unpublished: the sha256 of the first file placed there is pinned in the lock"
    why = f" ({reason})" if reason else ""
    return (
        f"weights for model family {family.name!r} ({source.status}) are not available{why}. "
        f"Place the file {source.filename!r} at {dest} (expected sha256: {checksum}). {source.instructions}"
    ).strip()


def _pin(family: ModelFamily, lock: Path, actual: str, dest: Path) -> None:
    """Record the first-seen hash of a family whose publisher gives none."""
    if family.weights is not None and family.weights.sha256 is None:
        record_first_seen(lock, family.name, actual, filename=dest.name)


def _packaged_file(source: WeightSource) -> Path | None:
    """Where an installed pip package ships the weights file, or None if the package is not installed."""
    assert source.pip_package is not None
    package, inner = source.pip_package
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / inner


def _copy_from_package(family: ModelFamily, dest: Path, expected: str | None, lock: Path) -> Path:
    """Copy a weights file shipped inside an installed pip package, verifying it before and after."""
    assert family.weights is not None
    packaged = _packaged_file(family.weights)
    assert packaged is not None
    verify_sha256(packaged, expected)
    with atomic_io.atomic_path(dest) as tmp:
        shutil.copyfile(packaged, tmp)
        actual = verify_sha256(tmp, expected)
    _pin(family, lock, actual, dest)
    return dest
