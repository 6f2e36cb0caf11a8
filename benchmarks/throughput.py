"""Images per second of the frozen source model inside vpbench's training step and evaluation, per
architecture, canvas and precision: the throughput table that ``python -m vpbench.cluster price`` prices
a study's grid with.

Run on the machine type the cells will train on:

    .venv/bin/python benchmarks/throughput.py --device cuda --out OUT   # a GPU: OUT/throughput.{json,md}
    .venv/bin/python benchmarks/throughput.py --device cpu --canvases 224 64 \
        --table src/vpbench/cluster/throughput_cpu.json               # the committed CPU fallback

No download and no weights file: the timings do not depend on the weights' values, so every architecture
is built from the registry with random weights (``--weights-dir`` is not needed).

Each measurement builds the registry's architecture with random weights (no downloads), wraps it exactly
as the methods do (``VisualPromptModel``: ILM-VP's padding prompt or Bahng's pad prompter on CLIP,
BatchNorm folded into the convs, channels-last for conv nets, index label map) and times (a) the training
step of the engine's loop (prompt -> frozen model -> mapped cross-entropy -> backward to the prompt ->
Adam step, inputs already on the device as the loop keeps them) and (b) inference (the ILM re-mapping
pass and the final evaluation, batches copied to the device as ``predict_logits`` does), at several batch
sizes, in fp32 and, on CUDA, under the autocast ``training.precision`` selects (bf16 by default; fp16 with
the loop's gradient scaler). On CPU the table divides by process CPU time of one thread (other work on a
shared machine does not count; wall-time numbers are kept alongside); on CUDA by wall time between
``torch.cuda.synchronize()`` calls. FLOPs per image (forward, and forward + backward to the input) are
counted too, so that the pricing can build a clearly labelled FLOP-based table for a GPU nobody has
measured yet. Results merge into the JSON table (``--table``, default ``OUT/throughput.json``) under a
device key, so one file can hold the CPU fallback and any number of GPU types; ``OUT/throughput.md`` is the
same run as a markdown table. Price a study with it:
``python -m vpbench.cluster price --configfile STUDY --throughput OUT/throughput.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import torch  # noqa: E402
from torch.nn import functional as F  # noqa: E402, N812

# benchmark name -> (registry family, canvas the paper uses). CLIP runs at its own input size (§5).
ARCHITECTURES = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50_v2",
    "mobilenet_v2": "mobilenet_v2",
    "deit_tiny": "deit_tiny",
    "swin_tiny": "swin_tiny",
    "clip_vit_l14_224": "clip_vit_l14_openai",
    "clip_vit_l14_336": "upop_clip_vit_l14_336_coco_uncompressed",
}
PAPER_ARCHS = ["resnet18", "resnet34", "resnet50", "mobilenet_v2", "deit_tiny", "swin_tiny"]
FIXED_224 = {"deit_tiny", "swin_tiny"}
NUM_CLASSES = 10  # target classes: only the label map's gather depends on it


def build(arch: str, canvas: int, device: torch.device):
    """The cell's model for ``arch`` at ``canvas`` (random weights) and the raw input size it pads."""
    from vpbench.engine.builders import has_convolutions
    from vpbench.engine.clip_source import ClipImageSource, drop_text_tower
    from vpbench.engine.output_mapping import IndexMapping
    from vpbench.engine.prompts import PaddingPrompt, PadPrompter
    from vpbench.engine.vp_model import VisualPromptModel
    from vpbench.models import get_model_family

    family = get_model_family(ARCHITECTURES[arch])
    net = family.builder()
    if family.kind == "clip":  # Bahng VP: pad prompter on the full-size image, cached text embeddings
        size = family.input_size
        texts = torch.randn(1000, int(net.text_projection.shape[1]))
        source = ClipImageSource.from_clip(net, texts)
        drop_text_tower(net)
        prompt = PadPrompter(size, family.mean, family.std)
        model = VisualPromptModel(prompt, source, IndexMapping(1000, NUM_CLASSES))
        return model.to(device), size, size
    input_size = min(128, canvas // 2)  # 32- or 128-px images padded into the canvas: cost is the canvas
    prompt = PaddingPrompt(canvas, input_size, family.mean, family.std)
    head = IndexMapping(1000, NUM_CLASSES)
    model = VisualPromptModel(prompt, net, head, channels_last=has_convolutions(net))
    return model.to(device), input_size, canvas


def autocast(device: torch.device, precision: str):
    """The engine's own autocast: ``training.precision`` on CUDA, nothing on a CPU (always fp32)."""
    from vpbench.engine.training import _autocast

    return _autocast(device, precision)


def train_step(model, optimizer, images, labels, device, precision, scaler) -> None:
    """One step of vpbench's loop for one cell (``training._packed_step`` with a pack of one); ``images``
    are uint8 on the device already, as the loop keeps a cell's training images."""
    with autocast(device, precision):
        x = images.float().div_(255.0)
        logits = model.head(model.source_forward(model.prompt(x)))
        loss = F.cross_entropy(logits.float(), labels)
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:  # fp16, as the loop does it: scaled loss, unscaled step, scale update
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    loss.item()  # the loop reads every step's loss (training_state.record_step)


def eval_step(model, images, device, precision) -> None:
    """One inference batch (``training.predict_logits`` / ``frequency_counts``): copied to the device,
    logits back as fp32 on the CPU."""
    with torch.inference_mode(), autocast(device, precision):
        x = images.to(device, non_blocking=True).float().div_(255.0)
        model(x).float().cpu()


def timed(fn, device: torch.device, min_seconds: float, min_iters: int, warmup: int) -> tuple[float, float]:
    """(wall, process CPU) seconds per call: ``warmup`` untimed calls, then at least ``min_iters`` calls
    and ``min_seconds`` of wall time. On a shared CPU the CPU time of a single-threaded process is what
    the work costs; wall time also counts the other processes' turns."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    calls, tick, cpu_tick = 0, time.perf_counter(), time.process_time()
    while calls < min_iters or time.perf_counter() - tick < min_seconds:
        fn()
        calls += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
    return (time.perf_counter() - tick) / calls, (time.process_time() - cpu_tick) / calls


def flops_per_image(model, input_size: int, device: torch.device) -> tuple[float, float]:
    """GFLOPs of one image: inference, and the training step's forward + backward to the prompt."""
    from torch.utils.flop_counter import FlopCounterMode

    images = torch.randint(0, 256, (1, 3, input_size, input_size), dtype=torch.uint8, device=device)
    x = images.float().div(255.0)
    with FlopCounterMode(display=False) as counter:
        # a forward WITH autograd: under no_grad open_clip's attention takes PyTorch's fused inference
        # path, whose matmuls the counter does not see (CLIP's inference would look 1/3 cheaper)
        logits = model(x)
    inference = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        logits = model(x)
        logits.float().logsumexp(1).sum().backward()
    model.zero_grad(set_to_none=True)
    return inference / 1e9, counter.get_total_flops() / 1e9


def recount_flops(out: Path, key: str, device: torch.device) -> None:
    """Recount the FLOPs of every entry of ``key`` in ``out`` (timings stay as measured)."""
    table = json.loads(out.read_text())
    for entry in table["devices"][key]["entries"]:
        if entry["precision"] != "fp32":
            continue
        model, input_size, _ = build(entry["arch"], entry["canvas"], device)
        entry["gflops_eval"], entry["gflops_train"] = (
            round(v, 4) for v in flops_per_image(model, input_size, device)
        )
        print(entry["arch"], entry["canvas"], entry["gflops_eval"], entry["gflops_train"], flush=True)
    out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")


def out_of_memory(entry: dict, part: str, batch: int, device: torch.device) -> None:
    """Note a batch that did not fit (e.g. CLIP ViT-L/14 at 336 px, fp32, batch 128 on 80 GB) and free
    what it held, so the table keeps the batches that did fit."""
    entry.setdefault("out_of_memory", []).append(f"{part} batch {batch}")
    print(f"{entry['arch']} {entry['precision']}: {part} batch {batch} does not fit", file=sys.stderr)
    if device.type == "cuda":
        torch.cuda.empty_cache()


def measure(arch: str, canvas: int, precision: str, device: torch.device, args) -> dict:
    model, input_size, canvas = build(arch, canvas, device)
    model.train()  # the prompt trains; VisualPromptModel keeps the frozen model in eval mode
    optimizer = torch.optim.Adam(model.trainable_parameters(), lr=0.01)
    scaler = torch.amp.GradScaler("cuda") if device.type == "cuda" and precision == "fp16" else None
    clip = arch.startswith("clip")
    train_sizes = args.cpu_clip_batches if clip and device.type == "cpu" else args.train_batches
    eval_sizes = args.cpu_clip_batches if clip and device.type == "cpu" else args.eval_batches
    entry = {
        "arch": arch,
        "family": ARCHITECTURES[arch],
        "canvas": canvas,
        "precision": precision,
        "train": {},
        "eval": {},
        "train_wall": {},
        "eval_wall": {},
    }
    for batch in train_sizes:
        images = torch.randint(0, 256, (batch, 3, input_size, input_size), dtype=torch.uint8, device=device)
        labels = torch.randint(0, NUM_CLASSES, (batch,), device=device)
        try:
            wall, cpu = timed(
                lambda images=images, labels=labels: train_step(
                    model, optimizer, images, labels, device, precision, scaler
                ),
                device,
                args.min_seconds,
                args.min_iters,
                args.warmup,
            )
        except torch.OutOfMemoryError:  # recorded, and no larger batch is tried
            out_of_memory(entry, "train", batch, device)
            break
        entry["train"][str(batch)] = round(batch / (cpu if args.timer == "cpu" else wall), 3)
        entry["train_wall"][str(batch)] = round(batch / wall, 3)
    model.eval()
    for batch in eval_sizes:
        images = torch.randint(0, 256, (batch, 3, input_size, input_size), dtype=torch.uint8)
        try:
            wall, cpu = timed(
                lambda images=images: eval_step(model, images, device, precision),
                device,
                args.min_seconds,
                args.min_iters,
                args.warmup,
            )
        except torch.OutOfMemoryError:
            out_of_memory(entry, "eval", batch, device)
            break
        entry["eval"][str(batch)] = round(batch / (cpu if args.timer == "cpu" else wall), 3)
        entry["eval_wall"][str(batch)] = round(batch / wall, 3)
    if not entry["train"] or not entry["eval"]:
        raise SystemExit(f"{arch} at {canvas} px, {precision}: not even the smallest batch fits")
    if precision == "fp32":
        entry["gflops_eval"], entry["gflops_train"] = (
            round(v, 4) for v in flops_per_image(model, input_size, device)
        )
    if device.type == "cuda":
        entry["peak_memory_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
        torch.cuda.reset_peak_memory_stats()
    return entry


def device_key(device: torch.device) -> tuple[str, dict]:
    """A stable key for the table (``cpu-x86_64-1t``, ``cuda-NVIDIA-H100-80GB-HBM3``) and its description."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return "cuda-" + name.replace(" ", "-"), {"kind": "cuda", "name": name}
    threads = torch.get_num_threads()
    name = platform.processor() or platform.machine()
    return f"cpu-{platform.machine()}-{threads}t", {"kind": "cpu", "name": name, "threads": threads}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", help="auto (CUDA if available), cpu or cuda[:N]")
    parser.add_argument(
        "--archs",
        nargs="+",
        default=[*PAPER_ARCHS, "clip_vit_l14_224", "clip_vit_l14_336"],
        choices=sorted(ARCHITECTURES),
    )
    parser.add_argument("--canvases", nargs="+", type=int, default=[224], help="padding-prompt canvas sides")
    parser.add_argument("--train-batches", nargs="+", type=int)
    parser.add_argument("--eval-batches", nargs="+", type=int)
    parser.add_argument("--cpu-clip-batches", nargs="+", type=int, default=[2])
    parser.add_argument("--min-seconds", type=float)
    parser.add_argument("--min-iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch threads (default: 1 on CPU, where --timer is cpu)")
    parser.add_argument(
        "--timer",
        choices=["cpu", "wall"],
        help="what the table's images/s divide by: process CPU time (default on CPU: a shared machine's "
        "other work does not count) or wall time (default on CUDA, synchronised)",
    )
    parser.add_argument("--out", type=Path, help="folder for throughput.json and throughput.md")
    parser.add_argument(
        "--table",
        type=Path,
        help="JSON table to merge into (default OUT/throughput.json, else benchmarks/throughput_<kind>.json)",
    )
    parser.add_argument("--label", default="", help="free text stored with the device's table")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="first wait (up to MINUTES) until the 1-min load average is below 0.3",
    )
    parser.add_argument("--flops-only", action="store_true", help="recount FLOPs of the entries in --out")
    parser.add_argument(
        "--precisions",
        nargs="+",
        default=["bf16"],
        choices=["bf16", "fp16"],
        help="autocast precisions measured on CUDA besides fp32 (training.precision; default bf16)",
    )
    args = parser.parse_args()

    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else "cpu"
        if args.device == "auto"
        else args.device
    )
    gpu = device.type == "cuda"
    args.timer = args.timer or ("wall" if gpu else "cpu")
    args.threads = args.threads or (os.cpu_count() if gpu or args.timer == "wall" else 1)
    torch.set_num_threads(args.threads)
    args.train_batches = args.train_batches or ([8, 32, 128] if gpu else [8, 32])
    args.eval_batches = args.eval_batches or ([256] if gpu else [32])
    args.min_seconds = args.min_seconds if args.min_seconds is not None else (0.5 if gpu else 2.0)
    # fp32 (FLOPs are counted there) and the study's training.precision; a CPU always runs fp32
    precisions = list(dict.fromkeys(["fp32", *args.precisions])) if gpu else ["fp32"]
    key, description = device_key(device)
    out = args.table or (
        args.out / "throughput.json"
        if args.out
        else ROOT / "benchmarks" / f"throughput_{description['kind']}.json"
    )
    if args.flops_only:
        recount_flops(out, key, device)
        return

    deadline = time.monotonic() + 60 * args.wait_idle
    while os.getloadavg()[0] >= 0.3 and time.monotonic() < deadline:
        time.sleep(10)
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    entries = []
    for arch in args.archs:
        # ViTs take exactly their 224-px input; CLIP runs at its own input size
        canvases = ([224] if 224 in args.canvases else []) if arch in FIXED_224 else args.canvases
        canvases = [None] if arch.startswith("clip") else canvases
        for canvas in canvases:
            for precision in precisions:
                tick = time.perf_counter()
                entry = measure(arch, canvas or 224, precision, device, args)
                entries.append(entry)
                took = time.perf_counter() - tick
                print(
                    f"{arch:18s} canvas {entry['canvas']:3d} {precision:8s} train {entry['train']} img/s, "
                    f"eval {entry['eval']} img/s ({took:.0f} s)",
                    flush=True,
                )
    table = json.loads(out.read_text()) if out.is_file() else {"schema": 1, "devices": {}}
    table["devices"][key] = {
        **description,
        "label": args.label
        or (
            ""
            if gpu
            else f"CPU fallback, measured on a CPU ({args.threads} thread, images per CPU-second): "
            "not GPU numbers"
        ),
        "timer": args.timer,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.version.cuda if gpu else None,
        "measured_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "load_average_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "entries": entries,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out} [{key}] in {time.perf_counter() - started:.0f} s")
    text = markdown(key, table["devices"][key])
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "throughput.md").write_text(text, encoding="utf-8")


def markdown(key: str, measured: dict) -> str:
    """One device's entries as the RESULTS.md table: images/s per training batch size and for evaluation."""
    lines = [
        f"Device `{key}` ({measured['name']}; torch {measured['torch']}, CUDA {measured['cuda']}; "
        f"images per {'CPU-' if measured['timer'] == 'cpu' else ''}second; {measured['measured_utc']} UTC; "
        f"load average before/after {measured['load_average_before_after']}). {measured['label']}",
        "",
        f"Command: `{measured['command']}`",
        "",
        "| architecture | canvas | precision | training img/s (batch: rate) | evaluation img/s "
        "| GFLOPs train/eval |",
        "|---|---|---|---|---|---|",
    ]
    for e in measured["entries"]:
        train = ", ".join(f"{b}: {v:.0f}" for b, v in e["train"].items())
        evaluation = ", ".join(f"{b}: {v:.0f}" for b, v in e["eval"].items())
        flops = f"{e['gflops_train']:.2f}/{e['gflops_eval']:.2f}" if "gflops_train" in e else "-"
        lines.append(f"| {e['arch']} | {e['canvas']} | {e['precision']} | {train} | {evaluation} | {flops} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
