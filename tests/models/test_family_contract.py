"""Contract over every registered model family: its synthetic checkpoint, in the publisher's on-disk
layout, loads through ``load_family_weights`` (checksum first, strict, compression asserted), lands every
tensor where it belongs, and the model runs forward and backward into every parameter.

Parametrized over :data:`vpbench.models.MODELS` itself, so a family (a plugin's included) is tested as
soon as it is registered; one without a layout in ``tests/models/synthetic_layouts.py`` fails, naming it.
"""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatch
from pathlib import Path

import pytest
import torch

from tests.models.synthetic_layouts import LAYOUTS, layout_for, reference_state
from vpbench.models import MODELS, load_family_weights, registry
from vpbench.models.acquire import acquire_weights
from vpbench.sources import checksums
from vpbench.sources.checksums import sha256_file
from vpbench.sources.lock import LOCK_FILENAME, pinned_sha256_for


def contract_families() -> list[str]:
    """Every registered family except users' own checkpoints (``weights.local_path``: tested where a study
    declares them: tests/workflow/test_own_checkpoint.py)."""
    return sorted(
        name for name, family in MODELS.items() if family.weights is None or family.weights.local_path is None
    )


FAMILIES = contract_families()


@pytest.fixture(scope="module", autouse=True)
def _shared_reference_states():
    """Reference weights are shared by the families of one architecture, then released."""
    yield
    reference_state.cache_clear()


def test_every_family_has_exactly_one_layout_and_every_layout_a_family():
    unmatched = [name for name in FAMILIES if not any(fnmatch(name, p) for p in LAYOUTS)]
    assert not unmatched, (
        f"model families without a synthetic checkpoint layout: {unmatched}; add a pattern and a factory "
        "writing the publisher's file to LAYOUTS in tests/models/synthetic_layouts.py"
    )
    ambiguous = {name: [p for p in LAYOUTS if fnmatch(name, p)] for name in FAMILIES}
    assert not {k: v for k, v in ambiguous.items() if len(v) > 1}, "families matching several layouts"
    stale = [pattern for pattern in LAYOUTS if not any(fnmatch(name, pattern) for name in MODELS)]
    assert not stale, f"layout patterns matching no registered family (remove or fix them): {stale}"


def _write_checkpoint(family, folder: Path) -> tuple[Path, dict[str, torch.Tensor]]:
    """Write the family's synthetic file(s) and return the file it loads, assembled if the entry says so."""
    expected = dict(layout_for(family.name).write(family, folder))
    if family.assemble is not None:
        path = family.assemble(family, folder, folder / LOCK_FILENAME)
    else:
        path = folder / family.weights.filename
    assert path.is_file(), f"{family.name}: its layout wrote no {path.name}"
    return path, expected


def _publish(family, sha256: str):
    """The entry as if its publisher had given this file's checksum (a registered checksum belongs to the
    real file, which random weights cannot match); a prefix stays a prefix of the same length."""
    published = family.weights.sha256
    if published is None:
        return family
    return replace(family, weights=replace(family.weights, sha256=sha256[: len(published)]))


def _load_watched(family, path: Path, sha256: str, monkeypatch) -> tuple:
    """``load_family_weights`` with the pinned hash, recording the checksum and load calls in order and
    the measurements its compression check made."""
    events: list[tuple] = []
    measured: dict = {}
    verify, load, check = checksums.verify_sha256, torch.load, registry.verify_compression

    def watched_verify(file, expected):
        events.append(("verify", Path(file), expected))
        return verify(file, expected)

    def watched_load(file, *args, **kwargs):
        events.append(("load", Path(file), kwargs.get("weights_only")))
        return load(file, *args, **kwargs)

    def watched_check(entry, model):
        measured.update(check(entry, model))
        return measured

    with monkeypatch.context() as patch:
        patch.setattr(checksums, "verify_sha256", watched_verify)
        patch.setattr(torch, "load", watched_load)
        patch.setattr(registry, "verify_compression", watched_check)
        model = load_family_weights(family, path, pinned_sha256=sha256)
    return model, events, measured


@pytest.mark.parametrize("name", FAMILIES)
def test_family_loads_its_synthetic_checkpoint_and_trains(name, tmp_path, monkeypatch):
    layout = layout_for(name)
    torch.manual_seed(0)
    family = layout.architecture(MODELS[name])
    assert family.weights is not None, f"{name}: no weight source"
    path, expected = _write_checkpoint(family, tmp_path)
    # an assembled file is pinned in the lock as it is written; any other is pinned here, first seen
    sha256 = pinned_sha256_for(tmp_path / LOCK_FILENAME, name) or sha256_file(path)
    family = _publish(family, sha256)

    model, events, measured = _load_watched(family, path, sha256, monkeypatch)
    assert events == [("verify", path, sha256), ("load", path, True)], (
        f"{name}: expected the pinned checksum verified first, then one weights_only load: {events}"
    )
    assert not model.training
    if family.expected_sparsity is not None:
        assert measured["sparsity"] == pytest.approx(family.expected_sparsity, abs=family.sparsity_tolerance)
    if family.measure_sparsity_on_load:
        low, high = family.sparsity_range
        assert low <= measured["sparsity"] <= high
    if family.expected_bits is not None:
        assert family.expected_bits in measured["bits"], measured
    loaded = model.state_dict()
    misplaced = [key for key, value in expected.items() if not torch.equal(loaded[key], value)]
    assert not misplaced, f"{name}: tensors not where the layout put them: {misplaced[:5]}"
    layout.verify(family, model)

    out = layout.forward(model, torch.randn(1, 3, layout.input_size, layout.input_size))
    assert torch.isfinite(out).all(), f"{name}: non-finite output"
    out.sum().backward()
    skip = layout.unreachable(model)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad and p.numel() and n not in skip]
    assert params, f"{name}: no trainable parameters"
    missing = [n for n, p in params if p.grad is None]
    assert not missing, f"{name}: no gradient reached {missing[:5]}"
    norms = torch.stack(torch._foreach_norm([p.grad for _, p in params]))
    assert torch.isfinite(norms).all(), f"{name}: non-finite gradients"
    assert norms.sum() > 0, f"{name}: every gradient is zero"  # (single ones may be: STE clamps, ReLUs)


OFFLINE = sorted(name for name in FAMILIES if MODELS[name].weights and MODELS[name].weights.pip_package)


@pytest.mark.parametrize("name", OFFLINE)
def test_synthetic_layout_matches_the_real_file_shipped_offline(name, tmp_path):
    """Where the real file ships in an installed package, the synthetic one has its keys, shapes, dtypes."""
    real = torch.load(acquire_weights(name, tmp_path / "real", allow_network=False), weights_only=True)
    (tmp_path / "fake").mkdir()
    path, _ = _write_checkpoint(MODELS[name], tmp_path / "fake")
    fake = torch.load(path, weights_only=True)

    def signature(state):
        return {k: (tuple(v.shape), v.dtype) for k, v in state.items()}

    assert signature(fake) == signature(real)
