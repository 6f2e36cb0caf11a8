"""Unstructured-sparse ResNets: SparseZoo GMP R18/R34, AC/DC, RigL and lottery-ticket R50
(docs/sources/models.md).

None of these publishers gives a checksum, so each file's first-seen sha256 is pinned in the weights lock.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from torch import nn
from torchvision import models

from vpbench.errors import MissingSourceError
from vpbench.models.registry import ModelFamily, WeightSource, register_model
from vpbench.models.remaps import acdc_resnet, apply_lottery_mask, rigl_resnet_tf, sparseml_resnet
from vpbench.runtime import atomic_io
from vpbench.sources.checksums import safe_torch_load, sha256_file, verify_sha256
from vpbench.sources.lock import pinned_sha256_for, record_first_seen

# --- GMP ResNet-18/34 from SparseZoo (at risk: the service reached end of life) -----------------------

for depth, top1, builder in ((18, 69.8, models.resnet18), (34, 73.3, models.resnet34)):
    stub = f"zoo:cv/classification/resnet_v1-{depth}/pytorch/sparseml/imagenet/pruned-conservative"
    register_model(
        ModelFamily(
            name=f"gmp_resnet{depth}",
            label=f"ResNet-{depth} (GMP)",
            builder=lambda builder=builder: builder(weights=None),
            weights=WeightSource(
                f"resnet{depth}_pruned_conservative.pth",
                status="at risk",
                instructions=(
                    f"SparseZoo reached end of life; fetch stub {stub} (its training/model.pth or pytorch/"
                    "model.pth) with sparsezoo 1.8.1 in a separate venv (docs/environment.md) and rename it. "
                    "No checksum is published: the first file placed is pinned in the weights lock."
                ),
            ),
            remap=sparseml_resnet,
            technique="gmp",
            dense_parent=f"resnet{depth}",
            # The paper says "around 80-90% layer-wise"; pruned-conservative documents no level, so it is
            # measured and recorded, and only a dense or random-looking model is rejected.
            sparsity_range=(0.2, 0.995),
            measure_sparsity_on_load=True,
            published_top1=top1,
            published_top1_source=f"SparseZoo listing of {stub}",
            licence="Apache-2.0 (Neural Magic SparseZoo)",
            description=(
                f"GMP-pruned ResNet-{depth} (SparseZoo pruned-conservative, listed top-1 {top1}); SparseML "
                "keys remapped to torchvision and loaded strictly (docs/deviations.md)."
            ),
        )
    )

# --- AC/DC ResNet-50 (public Seafile links, no checksums) ----------------------------------------------

_ACDC = {
    80: ("081f90d21c9e4236bd14", 76.45),
    90: ("1b4f578130364e5bb929", 75.03),
    95: ("e51ab6ee47bb490cb119", 73.14),
    98: ("9ec9f8f4eda04c5f9d74", 68.48),
}
for level, (share, top1) in _ACDC.items():
    register_model(
        ModelFamily(
            name=f"acdc_resnet50_s{level}",
            label=f"ResNet-50 (AC/DC {level}%)",
            builder=lambda: models.resnet50(weights=None),
            weights=WeightSource(
                f"acdc_resnet50_s{level}.pth",
                urls=(f"https://seafile.ist.ac.at/f/{share}/?dl=1",),
                instructions="From the IST-DASLab/ACDC README; no checksum published (first-seen pinned).",
            ),
            remap=acdc_resnet,
            expected_sparsity=level / 100,
            technique="acdc",
            dense_parent="resnet50_v1",
            published_top1=top1,
            published_top1_source="IST-DASLab/ACDC README",
            licence="not stated by IST-DASLab/ACDC; research use",
            description=(
                f"AC/DC ResNet-50 at {level}% sparsity over all conv and fc weights (top-1 {top1}); "
                "wrapped layers unwrapped as weight × mask."
            ),
        )
    )

# --- RigL ResNet-50, converted by Iofinova et al. (at risk: Seafile directory share) -------------------

_RIGL_SHARE = "https://seafile.ist.ac.at/d/91de9650cfb54b77b7d1/"


def resnet50_tf_same_maxpool() -> nn.Module:
    """torchvision ResNet-50 with RigL's TF-"SAME" stem pool: ZeroPad(0,1,0,1) then MaxPool(3, 2, 0)."""
    model = models.resnet50(weights=None)
    model.maxpool = nn.Sequential(
        nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(kernel_size=3, stride=2, padding=0)
    )
    return model


for level in (80, 90, 95):
    for suffix, builder, stem in (
        ("", lambda: models.resnet50(weights=None), "torchvision MaxPool(3,2,1) stem (deviation recorded)"),
        ("_tfstem", resnet50_tf_same_maxpool, "the TF-SAME ZeroPad+MaxPool(3,2,0) stem it was trained with"),
    ):
        register_model(
            ModelFamily(
                name=f"rigl_resnet50_s{level}{suffix}",
                label=f"ResNet-50 (RigL {level}%{suffix.replace('_', ' ')})",
                builder=builder,
                weights=WeightSource(
                    f"rigl_resnet50_erk5x_s{level}.pth",
                    status="at risk",
                    instructions=(
                        f"Download the converted RigL ERK-5x {level}% ResNet-50 from the Seafile directory "
                        f"share {_RIGL_SHARE} (Iofinova et al.) and rename it; the original TF checkpoint is "
                        f"https://storage.googleapis.com/gresearch/rigl/s{level}erk5x.tar.gz (TensorFlow)."
                    ),
                ),
                remap=rigl_resnet_tf,
                expected_sparsity=level / 100,
                technique="rigl",
                dense_parent="resnet50_v1",
                licence="Apache-2.0 (google-research/rigl)",
                description=(
                    f"RigL ERK-5x ResNet-50 at {level}% sparsity (ResnetTF layout remapped), built with "
                    f"{stem}; trained with bicubic resizing."
                ),
            )
        )

# --- Lottery-ticket (IMP) ResNet-50: not public, user-supplied checkpoint + mask pairs ------------------

LT_REMAINING_PERCENT = {
    1: 79.122,
    2: 62.575,
    3: 49.35,
    4: 38.793,
    5: 30.407,
    6: 23.807,
    7: 18.664,
    8: 14.671,
    9: 11.571,
}


def lottery_ticket_files(k: int) -> tuple[str, str]:
    """The authors' file names for IMP state ``k``: (checkpoint, mask)."""
    return f"resnet50_dyn4_{k}_checkpoint.pth", f"resnet50_dyn4_{k}_mask.pth"


def assemble_lottery_ticket(family: ModelFamily, dest_dir: Path, lock_path: Path, *, k: int) -> Path:
    """Verify the user's checkpoint + mask pair, apply weight = mask × weight, and write the family's file.

    Both inputs are pinned first-seen in the lock; the assembled file is re-pinned whenever it is rebuilt.
    """
    assert family.weights is not None
    paths = [Path(dest_dir) / name for name in lottery_ticket_files(k)]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise MissingSourceError(
            f"model family {family.name!r} is not public: place {', '.join(p.name for p in missing)} in "
            f"{dest_dir} (sha256 unpublished: the first files placed are pinned in {lock_path}). "
            f"{family.weights.instructions}"
        )
    loaded = []
    for role, path in zip(("checkpoint", "mask"), paths, strict=True):
        key = f"{family.name}:{role}"
        sha = record_first_seen(
            lock_path, key, verify_sha256(path, pinned_sha256_for(lock_path, key)), filename=path.name
        )
        loaded.append(safe_torch_load(path, sha))
    out = Path(dest_dir) / family.weights.filename
    atomic_io.save_torch(out, apply_lottery_mask(*loaded))
    record_first_seen(lock_path, family.name, sha256_file(out), filename=out.name, replace=True)
    return out


for k, remaining in LT_REMAINING_PERCENT.items():
    checkpoint_name, mask_name = lottery_ticket_files(k)
    register_model(
        ModelFamily(
            name=f"lt_resnet50_k{k}",
            label=f"ResNet-50 (LT, k = {k})",
            builder=lambda: models.resnet50(weights=None),
            weights=WeightSource(
                f"resnet50_lt_k{k}_masked.pt",
                status="not public",
                instructions=(
                    f"Lottery-ticket checkpoints are available from the paper's authors on request: place "
                    f"{checkpoint_name} and {mask_name} (flat dicts with the 'model.' prefix) in the same "
                    "folder; vpbench writes the masked file itself."
                ),
            ),
            expected_sparsity=round(1 - remaining / 100, 6),
            sparsity_tolerance=0.002,
            technique="lt",
            dense_parent="resnet50_v1",
            sparsity_scope="conv_except_first",
            assemble=partial(assemble_lottery_ticket, k=k),
            licence="unpublished; obtained from the authors",
            description=(
                f"Lottery-ticket (IMP state {k}) ResNet-50 with {remaining}% of Conv2d weights remaining "
                "(excluding conv1), rebuilt as mask × weight."
            ),
        )
    )
