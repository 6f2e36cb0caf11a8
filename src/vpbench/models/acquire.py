"""Acquiring a model family's verified weights file: pre-staged, assembled, packaged, downloaded or the
user's own file, always checked against its published (or first-seen pinned) sha256."""

from __future__ import annotations

import importlib.util
import shutil
import time
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


def acquisition_problem(family_name: str, dest_dir: str | Path, *, allow_network: bool) -> str | None:
    """Why :func:`acquire_weights` would fail for ``family_name``, or None; looks only at what exists
    (no hashing, no network), so the workflow can ask before any job runs."""
    family = get_model_family(family_name)
    source = family.weights
    if source is None:
        return f"model family {family_name!r} has no weight source to acquire"
    if source.local_path is not None:
        path = Path(source.local_path)
        if path.is_file():
            return None
        return (
            f"checkpoint {path} declared {source.instructions} does not exist (expected sha256 "
            f"{source.sha256})"
        )
    dest = Path(dest_dir) / source.filename
    if dest.is_file() or family.assemble is not None:  # an assembler names its own missing pieces
        return None
    if source.pip_package is not None and (packaged := _packaged_file(source)) is not None:
        if packaged.is_file():
            return None
    expected = source.sha256 or pinned_sha256_for(Path(dest_dir) / LOCK_FILENAME, family.name)
    if (source.urls or source.gdrive_id) and source.status != "not public":
        if allow_network:
            return None
        return missing_weights_message(family, dest, expected, "download is false in the study")
    return missing_weights_message(family, dest, expected)


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


ACQUIRED_RECORD = "acquired.json"  # the workflow's acquisition marker next to a family's weights file


def quarantine_corrupt_weights(
    family_name: str, path: str | Path, expected: str | None, *, allow_network: bool = True
) -> str | None:
    """If ``path`` (a family's acquired weights file) no longer matches ``expected``, move it aside and
    drop its acquisition record, so the next run re-acquires it; return what happened and what to do.

    Returns None when the file still matches (the fault lies elsewhere). A user's own checkpoint is never
    moved: the message says to restore it or declare its new sha256.
    """
    from vpbench.sources.checksums import sha256_file

    family = get_model_family(family_name)
    path = Path(path)
    if not path.is_file():
        return None
    actual = sha256_file(path)
    wanted = expected or (family.weights.sha256 if family.weights else None)
    wanted = wanted or pinned_sha256_for(path.parent / LOCK_FILENAME, family.name)
    if wanted is None or actual.startswith(wanted.lower()):
        return None
    if family.weights is not None and family.weights.local_path is not None:
        return (
            f"the checkpoint {path} no longer matches its declared sha256 (expected {wanted}, found "
            f"{actual}). It is your own file, so vpbench leaves it alone: restore the original file, or "
            "declare the new sha256 in the study's checkpoint entry if the change is intended"
        )
    quarantined = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    path.replace(quarantined)
    (path.parent / ACQUIRED_RECORD).unlink(missing_ok=True)
    message = (
        f"the acquired weights file {path} is corrupt (sha256 {actual}, expected {wanted}); it was moved to "
        f"{quarantined} and its acquisition record removed, so the next run acquires it again"
    )
    problem = acquisition_problem(family_name, path.parent, allow_network=allow_network)
    if problem:
        message += f". It cannot be acquired again automatically: {problem}"
    else:
        message += ": rerun the same command"
    return message + f". Delete {quarantined} once the rerun has succeeded"
