"""Run vpbench's BLM/BLM+, SMM and LoR-VP cores and the authors' code on identical inputs.

Usage (paths are extracted copies of the authors' repositories, kept outside this repository):

    PYTHONPATH=src python benchmarks/check_against_authors.py \
        --blm-repo /tmp/authors/BayesianLM --smm-repo /tmp/authors/SMM --lorvp-repo /tmp/authors/LoR-VP

It imports the authors' functions and modules from those paths, feeds both implementations the seeded
inputs of ``tests/engine/golden_inputs.py`` (copying the same weights into both where there are
parameters), prints the max |ours − authors| of every compared output, and writes the authors' outputs
to ``tests/engine/golden/<method>.npz`` for the offline golden tests (``--no-write`` skips that).

Stubs, none of which touches numerics: the authors' data loaders are replaced by lists of batches, the
BLM "network" and "prompt" by identities over precomputed logits, and three attributes that LoR-VP's
constructor only prints in a log message (``patch_num``, ``mask_l_pad``, ``mask_r_pad``; the published
class never defines them, so it cannot be constructed as is) are set on the class before construction.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "src"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from tests.engine import golden_inputs as gi  # noqa: E402
from vpbench import label_mapping  # noqa: E402
from vpbench.engine import blm, lor_vp, smm  # noqa: E402


def load_module(name: str, path: Path) -> ModuleType:
    """Import one file of an authors' repository under a private module name."""
    if not path.is_file():
        raise SystemExit(f"not found: {path} (pass the extracted repository root)")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def max_diff(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    """max |ours − theirs| in float64; shapes must agree."""
    ours, theirs = ours.detach().to(torch.float64), theirs.detach().to(torch.float64)
    if ours.shape != theirs.shape:
        raise AssertionError(f"shape mismatch: ours {tuple(ours.shape)} vs authors {tuple(theirs.shape)}")
    return float((ours - theirs).abs().max())


class Report:
    """Collects (method, case, quantity, max |diff|) rows and prints them."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def diff(self, method: str, case: str, quantity: str, ours: torch.Tensor, theirs: torch.Tensor) -> None:
        value = max_diff(ours, theirs)
        scale = float(theirs.detach().abs().max())
        relative = value / scale if scale > 0 else 0.0
        self.rows.append((method, case, quantity, f"{value:.3e}"))
        text = f"max|diff| = {value:.3e}  (max|authors| = {scale:.3e}, ratio {relative:.1e})"
        print(f"{method:7s} {case:20s} {quantity:50s} {text}", flush=True)

    def note(self, method: str, case: str, quantity: str, text: str) -> None:
        self.rows.append((method, case, quantity, text))
        print(f"{method:7s} {case:20s} {quantity:50s} {text}", flush=True)


def source_commit(path: Path) -> str:
    """The commit of an extracted copy: ``git rev-parse HEAD`` in a checkout, else the first line of a
    ``.source-commit`` file written when the copy was extracted, else 'unknown'."""
    marker = path / ".source-commit"
    if marker.is_file():
        return marker.read_text().split()[0]
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


# ---------------------------------------------------------------------------------------------- BLM


class _IdentityPrompt(nn.Module):
    """Stands in for the authors' prompt: their pass only reads a parameter's device from it."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def check_blm(repo: Path, report: Report) -> dict[str, np.ndarray]:
    authors = load_module("authors_blm_mapping", repo / "mapping.py")
    golden: dict[str, np.ndarray] = {}
    prompt, network = _IdentityPrompt(), nn.Identity()
    for case in gi.BLM_CASES:
        logits, labels, test = gi.blm_inputs(case)
        num_sources, num_targets = logits.shape[1], int(labels.max()) + 1
        loader = [
            (logits[i : i + gi.BLM_BATCH], labels[i : i + gi.BLM_BATCH])
            for i in range(0, len(labels), gi.BLM_BATCH)
        ]

        def ours_streamed(
            variant: str, k: int | None, lap: float, loader=loader, n_s=num_sources, n_t=num_targets
        ):
            head = blm.BayesianMapping(n_s, n_t, variant=variant, topk=k, lap=lap)
            stats = head.make_statistics()
            for x, y in loader:
                stats.update(x, y)
            head.remap_from_statistics(stats.statistics)
            return head

        # BLM, λ = 1 (published)
        theirs = authors.blm_reweight_matrix(prompt, network, loader, lap=1)
        theirs_update = authors.update_blm_reweight_matrix(logits, labels.int(), "cpu", lap=1)
        report.diff("BLM", case, "authors' loader pass vs their update_ function", theirs, theirs_update)
        report.diff("BLM", case, "ω, λ=1: blm_omega", blm.blm_omega(logits, labels, num_targets, 1.0), theirs)
        head = ours_streamed("blm", None, 1.0)
        report.diff("BLM", case, "ω, λ=1: BayesianStatistics + head (float32)", head.omega, theirs)
        counter = label_mapping.PredictionCounter(num_sources, num_targets)
        for x, y in loader:
            counter.update(x, y)
        via_counts = blm.BayesianMapping(num_sources, num_targets, variant="blm")
        via_counts.remap_from_counts(counter.counts)
        report.diff("BLM", case, "ω, λ=1: ILM count pass + remap_from_counts", via_counts.omega, theirs)
        mapped = authors.label_mapping_calculation(test, theirs)
        report.diff("BLM", case, "mapped outputs logits @ ω (16 test rows)", head(test), mapped)
        golden[f"{case}_blm_lap1"] = theirs.numpy().astype(np.float32)
        golden[f"{case}_blm_mapped"] = mapped.numpy().astype(np.float32)

        nan_lap0 = authors.blm_reweight_matrix(prompt, network, loader, lap=0)
        ours_lap0 = blm.blm_omega(logits, labels, num_targets, 0.0)
        nan_theirs, nan_ours = int(torch.isnan(nan_lap0).sum()), int(torch.isnan(ours_lap0).sum())
        text = f"authors: {nan_theirs}/{nan_lap0.numel()} NaN; ours: {nan_ours} NaN"
        report.note("BLM", case, "ω, λ=0 (sources never predicted)", text)

        # BLM+
        published_k = int(num_targets * 0.15)
        plus_cases = [(name, k, 1.0) for name, k in gi.BLM_TOPK.items()] + [("k3", 3, 0.5)]
        for name, k, lap in plus_cases:
            theirs = authors.blmp_reweight_matrix(prompt, network, loader, lap=lap, k=k)
            label = f"ω, {name}, λ={lap:g}"
            ours = blm.blm_plus_omega(logits, labels, num_targets, k=k, lap=lap)
            report.diff("BLM+", case, f"{label}: blm_plus_omega", ours, theirs)
            head = ours_streamed("blm+", k, lap)
            report.diff("BLM+", case, f"{label}: BayesianStatistics + head (float32)", head.omega, theirs)
            key = f"{case}_blmp_{name}_lap{lap:g}".replace(".", "p")
            golden[key] = theirs.numpy().astype(np.float32)
            if lap == 1.0:
                mapped = authors.label_mapping_calculation(test, theirs)
                report.diff("BLM+", case, f"{label}: mapped outputs", head(test), mapped)
                golden[f"{case}_blmp_{name}_mapped"] = mapped.numpy().astype(np.float32)
        theirs = authors.blmp_reweight_matrix(prompt, network, loader, lap=1, k=published_k)
        nan = int(torch.isnan(theirs).sum())
        report.note(
            "BLM+",
            case,
            f"published k = int(0.15·{num_targets}) = {published_k}",
            f"authors: {nan}/{theirs.numel()} NaN; ours uses k = {blm.topk_for(num_targets)}",
        )
    return golden


# ---------------------------------------------------------------------------------------------- SMM


def smm_state_for_authors(ours: smm.SampleSpecificMaskPrompt) -> dict[str, torch.Tensor]:
    """Our SMM state dict under the authors' parameter names (``priority.convN``/``bnN``, ``program``)."""
    mapped: dict[str, torch.Tensor] = {"program": ours.program.detach().clone()}
    generator = ours.mask_generator
    for index, block in enumerate(generator.blocks):
        for key, value in block[0].state_dict().items():
            mapped[f"priority.conv{index + 1}.{key}"] = value.clone()
        for key, value in block[1].state_dict().items():
            mapped[f"priority.bn{index + 1}.{key}"] = value.clone()
    if generator.head is not None:
        for key, value in generator.head.state_dict().items():
            mapped[f"priority.conv6.{key}"] = value.clone()
    return mapped


def check_smm(repo: Path, report: Report) -> dict[str, np.ndarray]:
    authors = load_module("authors_smm_instance_model", repo / "instance_model.py")
    golden: dict[str, np.ndarray] = {}
    for seed, (case, (size, layers, patch, channels, batch)) in enumerate(gi.SMM_CASES.items()):
        ours = smm.SampleSpecificMaskPrompt(
            size, gi.IMAGENET_MEAN, gi.IMAGENET_STD, layers=layers, patch_size=patch, channels=channels
        )
        gi.fill_module(ours, seed=100 + seed)
        theirs = authors.InstancewiseVisualPrompt(size, layers, patch, channels)
        theirs.load_state_dict(smm_state_for_authors(ours), strict=True)
        pixels = gi.images(batch, size, seed=200 + seed)
        normalised = (pixels - ours.mean) / ours.std

        def our_patches(ours=ours, normalised=normalised):
            return ours.mask_generator(normalised)

        def their_patches(theirs=theirs, normalised=normalised, channels=channels):
            values = theirs.priority(normalised)
            return values if channels == 3 else values.unsqueeze(1)

        first_conv = ours.mask_generator.blocks[0][0].weight
        ours_out = gi.smm_outputs(
            ours, pixels, our_patches, {"program": ours.program, "conv1": first_conv}, seed
        )
        theirs_out = gi.smm_outputs(
            theirs,
            normalised,
            their_patches,
            {"program": theirs.program, "conv1": theirs.priority.conv1.weight},
            seed,
        )
        label = f"L={size} layers={layers} p={patch} ch={channels}"
        for key in ("eval", "patches_eval", "train", "grad_program", "grad_conv1"):
            report.diff("SMM", case, f"{key} ({label})", ours_out[key], theirs_out[key])
        last = len(ours.mask_generator.blocks)
        ours_bn = ours.mask_generator.blocks[last - 1][1].running_var
        theirs_bn = getattr(theirs.priority, f"bn{last}").running_var
        report.diff("SMM", case, "BN running_var after one train step (last block)", ours_bn, theirs_bn)
        for key in ("eval", "patches_eval", "train", "grad_program"):
            value = theirs_out[key]
            if case in gi.SMM_FULL:
                golden[f"{case}_{key}"] = value.numpy().astype(np.float32)
            else:
                golden[f"{case}_{key}_sketch"] = gi.sketch(value).numpy()
    return golden


# ------------------------------------------------------------------------------------------- LoR-VP


def _lorvp_args(size: int, rank: int, init: str) -> SimpleNamespace:
    return SimpleNamespace(
        bar_width=rank,
        bar_height=size,
        output_size=size,
        input_size=size,
        network="resnet18",
        init_method=init,
        patch_size=None,
    )


def check_lorvp(repo: Path, report: Report) -> dict[str, np.ndarray]:
    authors = load_module("authors_lorvp_visual_prompt", repo / "trainer" / "visual_prompt.py")
    # log-message-only attributes the published constructor reads but never defines
    for name in ("patch_num", "mask_l_pad", "mask_r_pad"):
        setattr(authors.LoR_VP, name, None)
    from torchvision import transforms

    golden: dict[str, np.ndarray] = {}
    for seed, (case, (size, rank, batch, normalise)) in enumerate(gi.LORVP_CASES.items()):
        mean, std = (gi.IMAGENET_MEAN, gi.IMAGENET_STD) if normalise else ((0.0,) * 3, (1.0,) * 3)
        ours = lor_vp.LowRankPrompt(size, mean, std, rank=rank)
        gi.fill_module(ours, seed=300 + seed)
        normalize = transforms.Normalize(gi.IMAGENET_MEAN, gi.IMAGENET_STD) if normalise else None
        theirs = authors.LoR_VP(_lorvp_args(size, rank, "zero,normal"), normalize=normalize)
        with torch.no_grad():
            theirs.left_bar.copy_(ours.left)
            theirs.right_bar.copy_(ours.right)
        pixels = gi.images(batch, size, seed=400 + seed)
        weights = gi.backward_weights((batch, 3, size, size), 500 + seed)
        ours_out, theirs_out = ours(pixels), theirs(pixels)
        (ours_out * weights).sum().backward()
        (theirs_out * weights).sum().backward()
        label = f"L={size} r={rank} normalise={normalise}"
        report.diff("LoR-VP", case, f"forward ({label})", ours_out, theirs_out)
        report.diff("LoR-VP", case, "prompt B·A", ours.effective(), theirs.program)
        report.diff("LoR-VP", case, "grad B (left bar)", ours.left.grad, theirs.left_bar.grad)
        report.diff("LoR-VP", case, "grad A (right bar)", ours.right.grad, theirs.right_bar.grad)
        outputs = {
            "forward": theirs_out,
            "grad_left": theirs.left_bar.grad,
            "grad_right": theirs.right_bar.grad,
        }
        for key, value in outputs.items():
            if case in gi.LORVP_FULL:
                golden[f"{case}_{key}"] = value.detach().numpy().astype(np.float32)
            else:
                golden[f"{case}_{key}_sketch"] = gi.sketch(value).numpy()

    size, rank = 8, 2
    for init in ("zero,normal", "random,xavier", "kaiming,uniform"):
        torch.manual_seed(gi.LORVP_INIT_SEED)
        theirs = authors.LoR_VP(_lorvp_args(size, rank, init), normalize=None)
        torch.manual_seed(gi.LORVP_INIT_SEED)
        ours_global = lor_vp.LowRankPrompt(
            size, (0.0,) * 3, (1.0,) * 3, rank=rank, init=tuple(init.split(","))
        )
        ours_private = lor_vp.LowRankPrompt(
            size,
            (0.0,) * 3,
            (1.0,) * 3,
            rank=rank,
            init=tuple(init.split(",")),
            generator=torch.Generator().manual_seed(gi.LORVP_INIT_SEED),
        )
        for tag, ours in (("global RNG", ours_global), ("private generator", ours_private)):
            both = torch.cat([ours.left.detach().flatten(), ours.right.detach().flatten()])
            ref = torch.cat([theirs.left_bar.detach().flatten(), theirs.right_bar.detach().flatten()])
            report.diff("LoR-VP", f"init {init}", f"B, A after seed {gi.LORVP_INIT_SEED} ({tag})", both, ref)
        key = "init_" + init.replace(",", "_")
        golden[f"{key}_left"] = theirs.left_bar.detach().numpy().astype(np.float32)
        golden[f"{key}_right"] = theirs.right_bar.detach().numpy().astype(np.float32)
    return golden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blm-repo", type=Path, required=True)
    parser.add_argument("--smm-repo", type=Path, required=True)
    parser.add_argument("--lorvp-repo", type=Path, required=True)
    parser.add_argument("--golden-dir", type=Path, default=gi.GOLDEN_DIR)
    parser.add_argument("--no-write", action="store_true", help="compare only; leave the golden files alone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    print(f"torch {torch.__version__}; authors' copies: ")
    for name, path in (("BayesianLM", args.blm_repo), ("SMM", args.smm_repo), ("LoR-VP", args.lorvp_repo)):
        print(f"  {name}: {path} @ {source_commit(path)}")
    report = Report()
    goldens = {
        "blm": check_blm(args.blm_repo, report),
        "smm": check_smm(args.smm_repo, report),
        "lor_vp": check_lorvp(args.lorvp_repo, report),
    }
    numeric = [float(row[3]) for row in report.rows if row[3][0].isdigit()]
    print(f"\nworst max|diff| over {len(numeric)} comparisons: {max(numeric):.3e}")
    if not args.no_write:
        args.golden_dir.mkdir(parents=True, exist_ok=True)
        for method, arrays in goldens.items():
            path = args.golden_dir / f"{method}.npz"
            np.savez_compressed(path, **arrays)
            shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
            print(f"wrote {shown}: {path.stat().st_size} B")


if __name__ == "__main__":
    main()
