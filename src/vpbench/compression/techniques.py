"""Compression techniques as data: what each one is called, what kind of compression it is, its structure.

A technique names how a model was compressed, whether in the pipeline (``magnitude``, ``fake_quant``, …)
or by its publishers (``gmp``, ``acdc``, ``vvtq``, …). Figures and tables read a cell's technique, kind
and structure from its columns, which come from here; nothing downstream keeps a list of names.
"""

from __future__ import annotations

from dataclasses import dataclass

from vpbench.errors import ConfigError
from vpbench.registry import Registry

KINDS = ("dense", "sparse", "quantized", "structured")


@dataclass(frozen=True)
class Technique:
    """A compression technique: display label, kind (the paper's families) and structure (Table 1 "Type")."""

    name: str
    label: str
    kind: str
    structure: str
    rank: int = 100  # Table 1 row order

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"compression technique {self.name!r}: kind {self.kind!r}; allowed: {KINDS}")


TECHNIQUES: Registry[Technique] = Registry("compression technique")
register_technique = TECHNIQUES.register


def technique(name: str, kind: str | None = None, label: str | None = None) -> Technique:
    """The registered technique ``name``; an unregistered (user) one is described by ``kind``/``label``."""
    if name in TECHNIQUES:
        return TECHNIQUES[name]
    if kind is None:
        return TECHNIQUES.lookup(name)  # raises, listing the known techniques
    structure = {"sparse": "Unstructured", "quantized": "Quantization", "structured": "Structured"}.get(
        kind, ""
    )
    return Technique(name, label or name, kind, structure)


for _entry in (
    Technique("none", "None", "dense", "", rank=0),
    Technique("gmp", "GMP", "sparse", "Unstructured", rank=1),
    Technique("lt", "IMP (LT)", "sparse", "Unstructured", rank=2),
    Technique("acdc", "AC/DC", "sparse", "Unstructured", rank=3),
    Technique("rigl", "RigL", "sparse", "Unstructured", rank=4),
    Technique("upop", "UPop", "structured", "Structured", rank=5),
    Technique("vvtq", "VVTQ", "quantized", "Quantization", rank=6),
    Technique("magnitude", "Magnitude", "sparse", "Unstructured", rank=7),
    Technique("semi_structured", "N:M (semi-structured)", "sparse", "Semi-structured", rank=8),
    Technique("fake_quant", "Fake quantization", "quantized", "Quantization", rank=9),
):
    register_technique(_entry)
