"""What a transfer method is: it builds a cell's trainable parts, says what it needs and how it is shown.

A method is one object registered in :data:`METHODS`. It owns everything about itself that the rest of
vpbench asks: which models and data it adapts, the inputs its cells read, the cache geometry, its
published optimisation recipe, whether its cells can share a pack, and its label and colour in figures.
Subclasses implement :meth:`VPMethod.build`; adding a method is one module under
``vpbench/engine/methods/`` (imported automatically) or a plugin that calls :func:`register_method`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from vpbench.registry import Registry

if TYPE_CHECKING:
    from vpbench.data.registry import DatasetSpec
    from vpbench.engine.builders import BuildContext, CellSetup
    from vpbench.models.registry import ModelFamily
    from vpbench.study.grid import Cell
    from vpbench.study.spec import Study

# Colour families of figure lines: methods of one family share a hue ramp.
COLOUR_FAMILIES = ("label_mapping", "learned_map", "clip", "cross_modal", "prompt_design", "baseline")


@dataclass(frozen=True)
class VPMethod:
    """A transfer method and its published recipe (the study may override epochs, lr, batch sizes)."""

    name: str
    label: str
    description: str
    colour: str = "label_mapping"
    rank: int = 100  # position in legends and tables (ties: registration order)
    model_kinds: tuple[str, ...] = ("classifier",)
    modalities: tuple[str, ...] = ("image",)
    optimizer: str = "adam"
    lr: float = 0.01
    momentum: float = 0.0
    weight_decay: float = 0.0
    schedule: str = "multistep"
    warmup_steps: int = 0
    packable: bool = True
    mapping_figure: bool = False  # one source class per target class: the label-mapping figure applies
    learns_map: bool = False  # the output map is re-estimated from data (compared across models in claims)

    # Whether the method trains an input prompt (prompt figures apply); a class fact, not a cell key.
    trains_prompt: ClassVar[bool] = True
    # Fields that describe how the method is shown, not what it computes (left out of cell keys).
    DISPLAY_FIELDS: ClassVar[tuple[str, ...]] = ("label", "description", "colour", "rank")

    def __post_init__(self) -> None:
        if self.colour not in COLOUR_FAMILIES:
            raise ValueError(f"method {self.name!r}: colour {self.colour!r}; allowed: {COLOUR_FAMILIES}")

    def incompatibility(self, family: ModelFamily, dataset: DatasetSpec) -> str | None:
        """None if this method can adapt ``family`` to ``dataset``, else a sentence saying why not."""
        if family.kind not in self.model_kinds:
            return (
                f"method {self.name!r} adapts {'/'.join(self.model_kinds)} models, and {family.name!r} is a "
                f"{family.kind}"
            )
        if dataset.modality not in self.modalities:
            return (
                f"method {self.name!r} adapts {'/'.join(self.modalities)} datasets, and {dataset.name!r} is "
                f"{dataset.modality}"
            )
        return None

    def cache_geometry(self, study: Study, family: ModelFamily, dataset: str) -> tuple[int, str]:
        """(input size, resize mode) of the dataset caches this method's cells read."""
        return study.dataset_input_size(dataset), "square"

    def extra_inputs(self, study: Study, cell: Cell) -> dict[str, str]:
        """Further files a cell reads, by name (e.g. CLIP text embeddings); none by default."""
        del study, cell
        return {}

    def options(self) -> dict[str, Any]:
        """What the method computes, as plain data: part of every cell's key."""
        return {k: v for k, v in asdict(self).items() if k not in self.DISPLAY_FIELDS}

    def build(self, context: BuildContext) -> CellSetup:
        """The cell's model (prompt → frozen source → head) and data."""
        raise NotImplementedError(f"method {self.name!r} does not implement build()")


METHODS: Registry[VPMethod] = Registry("VP method")
register_method = METHODS.register
get_method = METHODS.lookup


def method_order() -> list[str]:
    """Every registered method name in display order."""
    names = list(METHODS)
    return sorted(names, key=lambda name: (METHODS[name].rank, names.index(name)))
