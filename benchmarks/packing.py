"""What replaces group packing: K cells as K processes, K cells one after another in one process, or
K cells in one lockstep pack. The numbers behind the "Packing without groups" section of RESULTS.md, and
what decides ``vpbench.engine.cell.LOCKSTEP_PAYS`` per device type (lockstep only where (c) trains
faster than (b)).

Run (offline: the weights come from ``--weights-dir``, a folder holding torchvision's
``mobilenet_v2-b0353104.pth``; the digits data ship with scikit-learn)::

    .venv/bin/python benchmarks/packing.py --device cuda --weights-dir WEIGHTS --out OUT   # a GPU
    .venv/bin/python benchmarks/packing.py --device cpu --canvas 64 --weights-dir WEIGHTS --out OUT

``--precision`` is ``training.precision`` (fp32 by default, as in a study; a CPU runs fp32 whatever it says).
``OUT`` receives ``packing.json`` (every mode's report) and ``packing.md`` (the RESULTS.md section).

For K one-shot and K ten-shot ILM cells of one model variant and dataset (seeds 1..K, MobileNetV2 with
its ImageNet weights, 32-px digits in the paper's 224-px canvas, 2 epochs by default) it measures:

- (a) ``separate``: K fresh processes, one cell each, one after another (what K array tasks on one GPU
  cost: interpreter, imports, model and cache load every time);
- (b) ``sequential``: ONE process loads the model and data once and calls the training loop once per
  cell, ``vpbench.engine.training.train_pack([member])`` in a loop (how ``run_pack`` trains a pack where
  lockstep does not pay);
- (c) ``lockstep``: ONE process, ``train_pack(members)`` with all K cells: one forward/backward through
  the frozen model per step for the concatenated batches.

Cells are built exactly as ``run_pack`` builds them (the typed study, ``method.build(context)``,
``train_settings``), and the loop is the engine's own. Every mode runs in its own fresh interpreter
(``cell_costs.spawn``), so the three are measured side by side, in one run, on one machine. On CUDA every
timed part starts and ends with ``torch.cuda.synchronize()``. Setup (weights, caches, splits, variant)
reuses ``cell_costs.prepare``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

STARTED = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cell_costs import prepare, spawn  # noqa: E402

MODES = {
    "separate": "(a) K processes, one cell each",
    "sequential": "(b) one process, train_pack([cell]) x K (one after another)",
    "lockstep": "(c) one process, train_pack(K cells)",
}


def worker(spec: dict) -> dict:
    """Load the variant and caches once, build the cells with their methods, train them as
    ``spec['mode']`` says, and report the parts of the loop (CPU seconds on a CPU, synchronised wall
    seconds on CUDA)."""
    import numpy as np
    import torch

    from vpbench.data import load_split
    from vpbench.engine import training
    from vpbench.engine.builders import BuildContext
    from vpbench.engine.cell import _load_verified_inputs
    from vpbench.engine.methods import get_method
    from vpbench.engine.settings import resolve_device, train_settings
    from vpbench.engine.training import PackMember, train_pack
    from vpbench.models import get_model_family
    from vpbench.study.grid import Cell
    from vpbench.study.loader import load_study

    torch.set_num_threads(spec["threads"])
    imported = time.perf_counter() - STARTED
    study = load_study(spec["config"])
    device = resolve_device(study.device)
    cuda = device.type == "cuda"

    def sync() -> None:
        if cuda:  # kernels run asynchronously: a clock read without this measures the launch only
            torch.cuda.synchronize(device)

    work = Path(spec["workdir"])
    sync()
    tick = time.perf_counter()
    net, card, train_split, test_split = _load_verified_inputs(
        work / "variant", work / "cache-train", work / "cache-test"
    )
    family = get_model_family(card["family"])
    members = []
    for fields in spec["cells"]:
        cell = Cell(**fields)
        split = load_split(work / f"split-{cell.shots}-{cell.seed}.json", labels=train_split.labels)
        torch.manual_seed(cell.seed)
        method = get_method(cell.method)
        indices = np.asarray(split.indices, dtype=np.int64)
        context = BuildContext(study, cell, method, family, net, card, train_split, test_split, indices, {})
        setup = method.build(context)  # exactly what vpbench.engine.cell.run_pack builds
        members.append(PackMember(setup.model, setup.data, train_settings(study, cell), None, cell.label))
    sync()
    load_s = time.perf_counter() - tick

    # The loop's parts: process CPU seconds on a CPU (on a shared machine wall time also counts the other
    # processes' turns), wall seconds between synchronisations on CUDA (the loop reads every step's loss
    # with .item(), which synchronises anyway). A step that ends an epoch runs the next ILM pass inside
    # it: booked as mapping, not training.
    clock = time.perf_counter if cuda else time.process_time
    spent = {"step": 0.0, "mapping": 0.0, "mapping_in_step": 0.0, "eval": 0.0}
    inside_step = [False]

    def timed(name, function):
        def wrapper(*args, **kwargs):
            sync()
            started = clock()
            nested, inside_step[0] = inside_step[0], inside_step[0] or name == "step"
            try:
                return function(*args, **kwargs)
            finally:
                sync()
                inside_step[0] = nested
                seconds = clock() - started
                spent[name] += seconds
                if name == "mapping" and nested:
                    spent["mapping_in_step"] += seconds

        return wrapper

    training._packed_step = timed("step", training._packed_step)
    training._remap = timed("mapping", training._remap)
    training._evaluate = timed("eval", training._evaluate)

    sync()
    tick, cpu_tick = time.perf_counter(), time.process_time()
    if spec["mode"] == "lockstep":
        outcomes = train_pack(members, device=device, progress=False)
    else:  # one cell per call of the training loop (separate: a single member in this process)
        outcomes = [train_pack([member], device=device, progress=False)[0] for member in members]
    sync()
    loop_s, loop_cpu_s = time.perf_counter() - tick, time.process_time() - cpu_tick
    return {
        "import_s": imported,
        "load_s": load_s,
        "loop_s": loop_s,
        "loop_cpu_s": loop_cpu_s,
        "process_cpu_s": time.process_time(),  # imports, loading and the loop
        "train_part_s": spent["step"] - spent["mapping_in_step"],
        "mapping_part_s": spent["mapping"],
        "eval_part_s": spent["eval"],
        "train_images": sum(len(m.data.train_labels) * m.settings.epochs for m in members),
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if cuda else platform.machine(),
        "precision": outcomes[0].precision,  # autocast dtype of training.precision on CUDA, fp32 on CPU
        "peak_gpu_mb": round(torch.cuda.max_memory_allocated(device) / 2**20) if cuda else None,
    }


def run_mode(mode: str, cells: list[dict], base: dict) -> dict:
    """One mode for one set of cells; (a) sums K single-cell processes."""
    if mode != "separate":
        return spawn({**base, "mode": mode, "cells": cells}, script=__file__)
    reports = [spawn({**base, "mode": mode, "cells": [cell]}, script=__file__) for cell in cells]
    total = {
        key: sum(r[key] for r in reports) for key in reports[0] if isinstance(reports[0][key], float | int)
    }
    return {**reports[0], **total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenet_v2")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--canvas", type=int, default=224, help="prompt canvas (the paper's 224)")
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--cells", type=int, default=8, help="K")
    parser.add_argument("--method", default="ilm")
    parser.add_argument("--shots", nargs="+", type=int, default=[1, 10])
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda")
    parser.add_argument(
        "--precision", default="fp32", choices=["fp32", "bf16", "fp16"], help="training.precision (CUDA)"
    )
    parser.add_argument("--weights-dir", type=Path, help="folder holding the model's pre-staged weights")
    parser.add_argument("--out", type=Path, help="folder for packing.json and packing.md")
    parser.add_argument(
        "--modes", nargs="+", choices=list(MODES), default=list(MODES), help="which modes to measure"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    seeds = tuple(range(1, args.cells + 1))
    workdir = Path(tempfile.mkdtemp(prefix="vpbench-packing-"))
    prepare(
        workdir, args.model, args.dataset, args.canvas, args.input_size, args.shots,
        seeds=seeds, weights_dir=args.weights_dir,
    )  # fmt: skip
    config = {
        "study": "packing",
        "device": args.device,
        "models": {args.model: {"family": args.model, "variants": {"dense": {}}}},
        "datasets": {args.dataset: {"input_size": args.input_size}},
        "methods": [args.method],
        "shots": args.shots,
        "seeds": list(seeds),
        "prompt": {"canvas": args.canvas},
        "training": {
            "epochs": args.epochs,
            "batch_size": {"1": 8, "10": 32, "full": 128},
            "precision": args.precision,
        },
    }
    base = {"workdir": str(workdir), "config": config, "threads": args.threads}
    results = {}
    for shots in args.shots:
        cells = [
            {
                "study": "packing",
                "dataset": args.dataset,
                "model": args.model,
                "variant": "dense",
                "method": args.method,
                "shots": str(shots),
                "seed": seed,
            }
            for seed in seeds
        ]
        for mode in args.modes:
            tick = time.perf_counter()
            results[(shots, mode)] = run_mode(mode, cells, base)
            print(f"{shots}-shot {mode}: {time.perf_counter() - tick:.1f} s", file=sys.stderr, flush=True)
    markdown = table(args, results)
    print(markdown)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        rows = [{"shots": shots, "mode": mode, **report} for (shots, mode), report in results.items()]
        command = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if k != "worker"}
        (args.out / "packing.json").write_text(json.dumps({"args": command, "rows": rows}, indent=1) + "\n")
        (args.out / "packing.md").write_text(markdown)
        print(f"wrote {args.out / 'packing.json'} and {args.out / 'packing.md'}", file=sys.stderr)


def table(args: argparse.Namespace, results: dict) -> str:
    """The markdown section for RESULTS.md: CPU seconds on a CPU (a shared machine's other work does not
    count), wall seconds of the loop's parts on CUDA; total wall time always."""
    first = next(iter(results.values()))
    on_cpu = first["device"] == "cpu"
    unit = "CPU s" if on_cpu else "s"
    part = {"train": "train_part_s", "map": "mapping_part_s", "eval": "eval_part_s", "total": "process_cpu_s"}
    if not on_cpu:
        part["total"] = "wall_s"
    lines = [
        f"## Packing without groups: {args.cells} cells as processes, a loop, or a lockstep pack",
        "",
        f"Command: `.venv/bin/python benchmarks/packing.py --model {args.model} --dataset {args.dataset} "
        f"--canvas {args.canvas} --input-size {args.input_size} --epochs {args.epochs} --cells {args.cells} "
        f"--method {args.method} --shots {' '.join(map(str, args.shots))} --threads {args.threads} "
        f"--device {args.device} --precision {args.precision} --weights-dir WEIGHTS --out OUT`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; device "
        f"{first['device']} {first['device_name']} ({first['precision']}); torch threads {args.threads}; "
        f"load average at the end {os.getloadavg()[0]:.2f}.",
        "",
        "(a) sums K processes (interpreter, imports, model and cache load, training each time); (b) and (c) "
        "are one process each. Training = the optimiser steps (prompt, frozen model forward and backward); "
        "ILM passes = the re-mapping inference before every epoch; evaluation = the final test and train "
        "inference; train img/s = training images (epochs x N per cell, summed) / training seconds. "
        + (
            "On this CPU the parts are process CPU seconds (one torch thread), which other work on a shared "
            "machine does not inflate; wall seconds are the elapsed time."
            if on_cpu
            else "On CUDA the parts are wall seconds between torch.cuda.synchronize() calls."
        ),
        "",
        f"| cells | mode | total ({unit}) | training ({unit}) | ILM passes ({unit}) | evaluation ({unit}) "
        f"| train img/{unit.split()[0]}-s | total vs {args.modes[0]} | wall (s) | wall vs {args.modes[0]} |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for shots in args.shots:
        base = results[(shots, args.modes[0])]
        for mode in args.modes:
            label, r = MODES[mode], results[(shots, mode)]
            throughput = r["train_images"] / r[part["train"]]
            lines.append(
                f"| {args.cells} x {shots}-shot | {label} | {r[part['total']]:.1f} | {r[part['train']]:.2f} "
                f"| {r[part['map']]:.2f} | {r[part['eval']]:.2f} | {throughput:.0f} "
                f"| {base[part['total']] / r[part['total']]:.2f}x | {r['wall_s']:.1f} "
                f"| {base['wall_s'] / r['wall_s']:.2f}x |"
            )
    if not {"sequential", "lockstep"} <= set(args.modes):
        return "\n".join(lines) + "\n"
    faster = {
        shots: results[(shots, "sequential")][part["train"]] / results[(shots, "lockstep")][part["train"]]
        for shots in args.shots
    }
    verdict = all(ratio > 1 for ratio in faster.values())
    lines += [
        "",
        "Lockstep (c) vs one after another (b), training part: "
        + ", ".join(f"{shots}-shot {ratio:.2f}x" for shots, ratio in faster.items())
        + f". LOCKSTEP_PAYS[{first['device']!r}] = {verdict} fits this run "
        "(vpbench.engine.cell; lockstep only where it trains faster for every N).",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
