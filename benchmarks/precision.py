"""Mixed precision on the GPU: does bf16 / fp16 autocast change a cell's numbers, and what does it save?

Runs the same cells (same seed, data, prompt init) at ``training.precision`` fp32, bf16 and fp16 through
the real cell code (:func:`vpbench.engine.cell.run_cell`) on ImageNet MobileNetV2 (the offline copy of
torchvision's file) and scikit-learn's digits, 32-px images in the paper's 224-px canvas, ILM-VP, dense and
50%-pruned: accuracy, ECE and training wall time per precision, printed as a markdown table.

    .venv/bin/python benchmarks/precision.py --out /tmp/precision.json      # needs CUDA

CPU runs are always fp32 (``effective_precision``), so this benchmark is meaningful on a GPU only.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def prepare(root: Path, weights_dir: Path | None, canvas: int, input_size: int) -> dict:
    """Caches, splits and two variants (dense, 50% magnitude) under ``root``."""
    import numpy as np

    from vpbench.compression.variant_store import materialize_variant
    from vpbench.data import build_cache, write_split
    from vpbench.models.acquire import acquire_weights

    weights = acquire_weights("mobilenet_v2", weights_dir or root / "weights", allow_network=False)
    for split in ("train", "test"):
        build_cache("digits", split, None, root / f"cache-{split}", input_size=input_size, progress=False)
    labels = np.load(root / "cache-train" / "labels.npy")
    for shots in ("10", "full"):
        write_split(
            root / f"split-{shots}.json", "digits", None if shots == "full" else int(shots), 1, labels
        )
    for variant, spec in {
        "dense": {},
        "mag50": {"compress": {"method": "magnitude", "sparsity": 0.5}},
    }.items():
        materialize_variant(
            model="mobilenet_v2", variant=variant, spec={"family": "mobilenet_v2", **spec},
            weights_path=weights, out_dir=root / "models" / variant, canvas=canvas,
        )  # fmt: skip
    return {"weights": str(weights)}


def config(precision: str, canvas: int, input_size: int, epochs: dict[str, int], device: str) -> dict:
    return {
        "study": "precision",
        "device": device,
        "models": {"mobilenet_v2": {"family": "mobilenet_v2", "variants": {"dense": {}, "mag50": {}}}},
        "datasets": {"digits": {"input_size": input_size}},
        "methods": ["ilm"],
        "shots": [10, "full"],
        "seeds": [1],
        "prompt": {"canvas": canvas},
        "training": {
            "epochs": epochs["10"],
            "batch_size": {"10": 32, "full": 128},
            "precision": precision,
            "method_overrides": {},
        },
    }


def run(args: argparse.Namespace) -> list[dict]:
    import torch

    from vpbench.engine.cell import run_cell
    from vpbench.study.grid import Cell
    from vpbench.study.loader import load_study

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit(
            "precision.py compares CUDA autocast dtypes: no CUDA device here (--device cpu smokes)"
        )
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    torch.backends.cudnn.benchmark = False
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        prepare(root, Path(args.weights_dir) if args.weights_dir else None, args.canvas, args.input_size)
        for shots, epochs in (("10", args.epochs_few), ("full", args.epochs_full)):
            for precision in args.precisions:
                raw = config(precision, args.canvas, args.input_size, {"10": epochs}, args.device)
                study = load_study(copy.deepcopy(raw))
                for variant in ("dense", "mag50"):
                    cell = Cell("precision", "digits", "mobilenet_v2", variant, "ilm", shots, 1)
                    out = root / "cells" / f"{shots}-{precision}-{variant}"
                    sync()
                    tick = time.perf_counter()
                    row = run_cell(
                        study=study, cell=cell, variant_dir=root / "models" / variant,
                        train_cache=root / "cache-train", test_cache=root / "cache-test",
                        split_path=root / f"split-{shots}.json", out_dir=out, checkpoint_dir=out / "ckpt",
                        progress=False,
                    )  # fmt: skip
                    sync()
                    rows.append({
                        "shots": shots, "epochs": epochs, "precision": precision, "variant": variant,
                        "accuracy": row["accuracy"], "ece": row["ece"], "wall_s": time.perf_counter() - tick,
                        "train_s": row["wall_train_s"], "eval_s": row["wall_eval_s"],
                        "mapping_s": row["wall_mapping_s"], "train_size": row["train_size"],
                    })  # fmt: skip
                    print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict], device: str) -> str:
    lines = [
        f"Device: {device}; MobileNetV2 (ImageNet), digits 32 px in a 224-px canvas, ILM-VP, seed 1.",
        "",
        "| N-shot | epochs | variant | precision | accuracy | Δ vs fp32 [pp] | ECE | train s | speed-up |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    base = {(r["shots"], r["variant"]): r for r in rows if r["precision"] == "fp32"}
    for r in rows:
        ref = base.get((r["shots"], r["variant"]))
        delta = (r["accuracy"] - ref["accuracy"]) * 100 if ref else float("nan")
        speed = ref["train_s"] / r["train_s"] if ref and r["train_s"] else float("nan")
        lines.append(
            f"| {r['shots']} | {r['epochs']} | {r['variant']} | {r['precision']} | "
            f"{r['accuracy'] * 100:.2f} | {delta:+.2f} | {r['ece'] * 100:.2f} | {r['train_s']:.2f} | "
            f"{speed:.2f}× |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "fp16"])
    parser.add_argument("--canvas", type=int, default=224)
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--epochs-few", type=int, default=30, help="epochs of the 10-shot cells")
    parser.add_argument("--epochs-full", type=int, default=5, help="epochs of the full-data cells")
    parser.add_argument("--weights-dir", help="a folder holding mobilenet_v2-b0353104.pth (pre-staged)")
    parser.add_argument("--out", help="write the rows as JSON here")
    parser.add_argument("--device", default="cuda", help="cuda; cpu only to smoke-test the script (fp32)")
    args = parser.parse_args()
    import torch

    rows = run(args)
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else platform.processor() or "CPU"
    device = f"{name}, torch {torch.__version__}, Python {platform.python_version()}"
    print(markdown(rows, device))
    if args.out:
        Path(args.out).write_text(json.dumps({"device": device, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
