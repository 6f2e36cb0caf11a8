"""Images per second of each architecture inside vpbench's training step and evaluation, per device: the
table :mod:`vpbench.cluster.pricing` prices a grid with.

``benchmarks/throughput.py`` measures it (per device, architecture, canvas and precision; precision as
``training.precision`` names it: fp32, bf16, fp16). The committed fallback (``throughput_cpu.json``) was
measured on a 2-core CPU and prices what a CPU would take, not a GPU; :func:`assumed_gpu_table` derives a
clearly labelled table from the FLOPs per image the benchmark counted, for a GPU nobody has measured yet.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vpbench.errors import ConfigError

DEFAULT_TABLE = Path(__file__).with_name("throughput_cpu.json")
# Every committed table: the CPU fallback and the GPUs measured so far (a measured GPU is the default device).
MEASURED_TABLES = (DEFAULT_TABLE, Path(__file__).with_name("throughput_h100.json"))


def _interpolate(points: Mapping[int, float], batch: float) -> float:
    """Images/s at ``batch``: linear in log(batch) between measured batch sizes, flat outside them."""
    sizes = sorted(points)
    if batch <= sizes[0]:
        return points[sizes[0]]
    if batch >= sizes[-1]:
        return points[sizes[-1]]
    for low, high in itertools.pairwise(sizes):
        if low <= batch <= high:
            weight = (math.log(batch) - math.log(low)) / (math.log(high) - math.log(low))
            return points[low] + weight * (points[high] - points[low])
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Throughput:
    """Measured (or assumed) images per second of one architecture at one canvas and precision."""

    device: str
    arch: str
    canvas: int
    precision: str
    train: dict[int, float]
    eval: dict[int, float]
    gflops_train: float | None = None
    gflops_eval: float | None = None
    scale: float = 1.0  # < 1 when priced at a larger canvas than measured (FLOPs grow with the area)

    def train_ips(self, batch: float) -> float:
        return _interpolate(self.train, batch) * self.scale

    def eval_ips(self, batch: float) -> float:
        return _interpolate(self.eval, batch) * self.scale


@dataclass
class ThroughputTable:
    """Every device's measurements, keyed (device, arch, canvas, precision)."""

    entries: dict[tuple[str, str, int, str], Throughput] = field(default_factory=dict)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ThroughputTable:
        table = cls()
        for device, info in data.get("devices", {}).items():
            table.devices[device] = {k: v for k, v in info.items() if k != "entries"}
            for e in info.get("entries", []):
                table.entries[(device, e["arch"], int(e["canvas"]), e["precision"])] = Throughput(
                    device=device,
                    arch=e["arch"],
                    canvas=int(e["canvas"]),
                    precision=e["precision"],
                    train={int(b): float(v) for b, v in e["train"].items()},
                    eval={int(b): float(v) for b, v in e["eval"].items()},
                    gflops_train=e.get("gflops_train"),
                    gflops_eval=e.get("gflops_eval"),
                )
        return table

    @classmethod
    def load(cls, path: str | Path = DEFAULT_TABLE) -> ThroughputTable:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def merge(self, other: ThroughputTable) -> ThroughputTable:
        merged = ThroughputTable(dict(self.entries), dict(self.devices))
        merged.entries.update(other.entries)
        merged.devices.update(other.devices)
        return merged

    def default_device(self) -> str:
        """A measured GPU if the table has one, else its first device."""
        gpus = [d for d, info in self.devices.items() if info.get("kind") == "cuda"]
        if not (gpus or self.devices):
            raise ConfigError("the throughput table holds no device")
        return (gpus or list(self.devices))[0]

    def lookup(self, device: str, arch: str, canvas: int, precision: str) -> tuple[Throughput, str]:
        """The entry for (device, arch, canvas, precision) and a note on any substitution: another
        precision of the same device (fp32 when AMP was not measured), or the nearest measured canvas
        with the throughput scaled by the pixel-area ratio."""
        candidates = [t for (d, a, _, _), t in self.entries.items() if d == device and a == arch]
        if not candidates:
            raise KeyError(f"{arch} was not measured on {device}")
        notes = []
        same = [t for t in candidates if t.precision == precision]
        if not same:
            notes.append(f"{precision} not measured, {candidates[0].precision} used")
            same = [t for t in candidates if t.precision == candidates[0].precision]
        exact = [t for t in same if t.canvas == canvas]
        if exact:
            return exact[0], "; ".join(notes)
        nearest = min(same, key=lambda t: abs(math.log(t.canvas / canvas)))
        notes.append(f"canvas {canvas} priced from {nearest.canvas} px by area")
        scaled = Throughput(**{**nearest.__dict__, "scale": (nearest.canvas / canvas) ** 2})
        return scaled, "; ".join(notes)


def assumed_gpu_table(
    measured: ThroughputTable, name: str, peak_tflops: float, mfu: float, precision: str = "bf16"
) -> ThroughputTable:
    """A throughput table for a GPU nobody measured: images/s = peak x MFU / FLOPs per image, from the
    FLOPs the benchmark counted (one batch-independent value per architecture and canvas). An ASSUMPTION,
    labelled as such in the device's metadata; replace it by a measured table as soon as one exists."""
    table = ThroughputTable()
    key = f"assumed-{name}"
    table.devices[key] = {
        "kind": "cuda",
        "name": name,
        "label": f"ASSUMED, not measured: {peak_tflops:g} TFLOP/s peak x {mfu:g} utilisation "
        "/ FLOPs per image",
    }
    for (_, arch, canvas, _), t in measured.entries.items():
        if not (t.gflops_train and t.gflops_eval):
            continue
        rate = peak_tflops * 1e3 * mfu  # GFLOP/s
        entry = Throughput(
            key,
            arch,
            canvas,
            precision,
            {1: rate / t.gflops_train},
            {1: rate / t.gflops_eval},
            t.gflops_train,
            t.gflops_eval,
        )
        table.entries[(key, arch, canvas, precision)] = entry
    return table
