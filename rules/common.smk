# Validation, the study's cell grid, wildcard constraints and the helpers every rule uses.
import re
import sys
from types import SimpleNamespace
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from vpbench.study.schema import validate_study  # noqa: E402
from vpbench.results.figures.render import figure_plan  # noqa: E402
from vpbench.errors import VpbenchError  # noqa: E402
from vpbench.engine.methods import get_method  # noqa: E402
from vpbench.models import get_model_family  # noqa: E402
from vpbench.study import grid as vpstudy  # noqa: E402

try:
    CELLS = validate_study(config)  # names the bad key and the allowed values
except VpbenchError as error:
    raise WorkflowError(str(error)) from None
validate(config, schema="../workflow/schemas/config.schema.yaml")  # snakemake's own check + defaults

STUDY = config["study"]
WEIGHTS_DIR = config.get("paths", {}).get("weights_dir", "resources/weights")
SPLIT_MODE = config.get("split_mode", "vpbench")


def _alternatives(values):
    return "|".join(re.escape(str(value)) for value in sorted(set(values)))


VARIANTS = {v for entry in config["models"].values() for v in entry["variants"]}
FAMILIES = {
    vpstudy.variant_spec(config, model, variant)["family"]
    for model, entry in config["models"].items()
    for variant in entry["variants"]
}


wildcard_constraints:
    study=re.escape(STUDY),
    dataset=_alternatives(config["datasets"]),
    model=_alternatives(config["models"]),
    variant=_alternatives(VARIANTS),
    method=_alternatives(config["methods"]),
    family=_alternatives(FAMILIES),
    shots=r"\d+|full",
    seed=r"\d+",
    split="train|test",
    size=r"\d+",
    resize="square|clip",
    mode="vpbench|paper",
    index=r"\d+",


def input_size(wildcards):
    return vpstudy.dataset_input_size(config, wildcards.dataset)


def dataset_root(dataset):
    return vpstudy.dataset_root(config, dataset)


def cache_dir(dataset, split, size=None, resize="square"):
    size = size or vpstudy.dataset_input_size(config, dataset)
    return f"resources/cache/{dataset}/{split}-{size}px-{resize}"


def split_file(dataset, shots, seed):
    return f"resources/splits/{dataset}/{SPLIT_MODE}/{shots}shot-seed{seed}.json"


def cell_dir(wildcards):
    return vpstudy.CELL_DIR.format(**wildcards)


def text_embeddings_file(study, model, variant, dataset, templates):
    return f"results/{study}/text/{model}/{variant}/{dataset}-{templates}.pt"


def cell_inputs(wildcards):
    if isinstance(wildcards, dict):
        wildcards = SimpleNamespace(**wildcards)
    method = get_method(wildcards.method)
    size, resize = None, "square"
    if method.builder == "clip":  # CLIP's own preprocessing at the variant's input size (224 or 336)
        family = vpstudy.variant_spec(config, wildcards.model, wildcards.variant)["family"]
        size, resize = get_model_family(family).input_size, "clip"
    inputs = {
        "card": f"results/{wildcards.study}/models/{wildcards.model}/{wildcards.variant}/card.json",
        "train": f"{cache_dir(wildcards.dataset, 'train', size, resize)}/manifest.json",
        "test": f"{cache_dir(wildcards.dataset, 'test', size, resize)}/manifest.json",
        "split": split_file(wildcards.dataset, wildcards.shots, wildcards.seed),
    }
    if method.builder == "cross_modal" and config.get("prompt", {}).get("label_order") == "dense":
        dense = vpstudy.dense_variant(config, wildcards.model)
        inputs["dense_card"] = f"results/{wildcards.study}/models/{wildcards.model}/{dense}/card.json"
    if method.text_templates:  # CLIP methods read cached text embeddings, computed once per variant
        inputs["text"] = text_embeddings_file(
            wildcards.study, wildcards.model, wildcards.variant, wildcards.dataset, method.text_templates
        )
    return inputs


def variant_canvas(wildcards):
    """Input side at which a variant's card measures FLOPs and calibrates fake quantization: the prompt
    canvas for classifiers, the model's own size for CLIP (a 336-px CLIP rejects 224-px images)."""
    family = get_model_family(vpstudy.variant_spec(config, wildcards.model, wildcards.variant)["family"])
    if family.kind == "clip":
        return family.input_size
    return config.get("prompt", {}).get("canvas") or family.input_size


def variant_weights(wildcards):
    spec = vpstudy.variant_spec(config, wildcards.model, wildcards.variant)
    return f"{WEIGHTS_DIR}/{spec['family']}/acquired.json"


PACKS = vpstudy.plan_packs(CELLS, config)
PACK_OF = {cell: pack for pack, members in PACKS.items() for cell in members}


def pack_marker(pack):
    return f"results/{STUDY}/packs/{pack}.json"


def cell_done(cell):
    """What proves a cell is trained: its metrics, or (until they exist) the marker of its pack.

    A packed cell that is later rerun on its own by path then re-triggers aggregation like any other.
    """
    metrics = f"{cell.directory}/metrics.parquet"
    if cell in PACK_OF and not Path(metrics).exists():
        return pack_marker(PACK_OF[cell])
    return metrics


def all_cells_done():
    return sorted({cell_done(cell) for cell in CELLS})


def pack_cells(wildcards):
    return PACKS[f"{wildcards.dataset}/{wildcards.model}/{wildcards.variant}/pack{wildcards.index}"]


def pack_inputs(wildcards):
    cells = pack_cells(wildcards)
    inputs = cell_inputs({**cells[0].__dict__, "shots": cells[0].shots, "seed": cells[0].seed})
    inputs.pop("split")
    inputs["splits"] = [split_file(cell.dataset, cell.shots, cell.seed) for cell in cells]
    return inputs


def all_cell_files(name):
    return [f"{cell.directory}/{name}" for cell in CELLS]


def all_variant_cards():
    return [
        f"results/{STUDY}/models/{model}/{variant}/card.json"
        for model, entry in config["models"].items()
        for variant in entry["variants"]
    ]


def checkpoint_dir(wildcards):
    """Resumable training state of a cell, kept apart from its outputs."""
    return vpstudy.CHECKPOINT_DIR.format(**wildcards)

FIGURE_PLAN = figure_plan(
    {model: list(entry["variants"]) for model, entry in config["models"].items()},
    list(config["datasets"]),
    list(config["methods"]),
    [vpstudy.shots_key(shots) for shots in config["shots"]],
    prompt_history=config["training"].get("save_prompt_history", False),
    combos={(cell.model, cell.dataset, cell.method) for cell in CELLS},
)
CATEGORIES = {
    "accuracy": "Accuracy",
    "calibration": "Calibration",
    "compression_cost": "Compression cost",
    "label_mapping": "Label mapping",
    "prompts": "Prompts",
}
TABLES = ["accuracy", "table1", "table5", "published_comparison"]
if "clip_vit_l14" in config["models"]:
    TABLES.append("table2")
if "cmr" in config["methods"]:
    TABLES += ["table3", "table4"]


def figure_output(spec):
    return report(
        f"results/{STUDY}/figures/{spec.stem}.svg",
        caption=f"../report/fig_{spec.kind}.rst",
        category=CATEGORIES[spec.category],
        # one figure kind per subcategory: Snakemake's report breaks when a 2-valued label does not pair up
        subcategory=f"{spec.model} · {spec.kind.replace('_', ' ')}",
        labels={
            "figure": spec.kind.replace("_", " "),
            "dataset": spec.dataset or "all",
            "method": spec.method or "all",
            "detail": spec.metric or (f"{spec.shots}-shot" if spec.shots else "—"),
        },
    )


def table_output(name):
    return report(
        f"results/{STUDY}/tables/{name}.html",
        caption=f"../report/table_{name}.rst",
        category="Tables",
        labels={"table": name.replace("_", " ")},
    )


def all_targets(wildcards):
    return [
        f"results/{STUDY}/tables/cells.parquet",
        *[f"results/{STUDY}/figures/{spec.stem}.svg" for spec in FIGURE_PLAN],
        *[f"results/{STUDY}/tables/{name}.html" for name in TABLES],
        f"results/{STUDY}/tables/models.html",
    ]
