"""Human-readable names for registry identifiers and metrics (shared by figures and tables, no plotting)."""

from __future__ import annotations

METHOD_LABELS: dict[str, str] = {
    "rlm": "RLM-VP",
    "flm": "FLM-VP",
    "ilm": "ILM-VP",
    "fullymap": "FullyMap-VP",
    "bahng_vp": "VP (Bahng)",
    "ilm_tp_vp": "ILM-VP (CLIP)",
    "cmr": "Cross-modal",
}
METHOD_ORDER: tuple[str, ...] = ("ilm", "flm", "rlm", "fullymap", "bahng_vp", "ilm_tp_vp", "cmr")

DATASET_LABELS: dict[str, str] = {
    "cifar10": "CIFAR-10",
    "svhn": "SVHN",
    "gtsrb": "GTSRB",
    "dtd": "DTD",
    "flowers102": "Flowers102",
    "oxford_pets": "OxfordPets",
    "eurosat": "EuroSAT",
    "caltech101": "Caltech101",
    "yelp_polarity": "Yelp",
    "imdb": "IMDB",
    "ag_news": "AG News",
    "dbpedia_14": "DBPedia",
    "splice": "Splice",
}

MODEL_LABELS: dict[str, str] = {
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "resnet50": "ResNet-50",
    "mobilenet_v2": "MobileNetV2",
    "deit_tiny": "DeiT-T",
    "swin_tiny": "Swin-T",
    "clip_vit_l14": "CLIP ViT-L/14",
}

COMPRESSION_LABELS: dict[str, str] = {
    "none": "None",
    "magnitude": "Magnitude",
    "semi_structured": "N:M (semi-structured)",
    "fake_quant": "Fake quantization",
    "gmp": "GMP",
    "acdc": "AC/DC",
    "rigl": "RigL",
    "lt": "IMP (LT)",
    "vvtq": "VVTQ",
    "upop": "UPop",
}
COMPRESSION_TYPES: dict[str, str] = {
    "magnitude": "Unstructured",
    "gmp": "Unstructured",
    "acdc": "Unstructured",
    "rigl": "Unstructured",
    "lt": "Unstructured",
    "semi_structured": "Semi-structured",
    "upop": "Structured",
    "fake_quant": "Quantization",
    "vvtq": "Quantization",
}

METRIC_LABELS: dict[str, str] = {
    "accuracy": "top-1 accuracy [%]",
    "ece": "ECE, 15 bins [%]",
    "adaptive_ece": "adaptive ECE, 15 bins [%]",
    "ece_temperature_scaled": "ECE after temperature scaling [%]",
    "mean_conf_correct": "mean confidence of correct predictions [%]",
    "mean_confidence": "mean confidence [%]",
    "kl_uniform_wrong": "KL(p‖U) of wrong predictions [nats]",
    "kl_uniform_wrong_norm": "KL(p‖U) / log C of wrong predictions",
    "nll": "NLL [nats]",
    "brier": "Brier score",
    "ece_paper_compat": "paper-compatible 'ECE' (raw logits, not a calibration error)",
}
PERCENT_METRICS = frozenset(
    {"accuracy", "ece", "adaptive_ece", "ece_temperature_scaled", "mean_conf_correct", "mean_confidence"}
)


def method_label(method: str) -> str:
    """Display name of a VP method registry name."""
    return METHOD_LABELS.get(method, method)


def dataset_label(dataset: str) -> str:
    """Display name of a dataset or cross-modal task."""
    return DATASET_LABELS.get(dataset, dataset)


def model_label(model: str) -> str:
    """Display name of a study model."""
    return MODEL_LABELS.get(model, model)


def compression_label(compression: str) -> str:
    """Display name of a compression method."""
    return COMPRESSION_LABELS.get(compression, compression)


def metric_label(metric: str) -> str:
    """Axis label (with unit) of a metric column."""
    return METRIC_LABELS.get(metric, metric)


def metric_scale(metric: str) -> float:
    """Factor turning stored fractions into the displayed unit (100 for percentages, else 1)."""
    return 100.0 if metric in PERCENT_METRICS else 1.0


def method_sort_key(method: str) -> tuple[int, str]:
    """Paper order (ILM, FLM, RLM, …), unknown methods last and alphabetical."""
    return (METHOD_ORDER.index(method) if method in METHOD_ORDER else len(METHOD_ORDER), method)
