"""Registry, native-format readers, uint8 caches, N-shot splits; importing registers every dataset."""

from vpbench.data import demo, text_tasks, torchvision_sources  # noqa: F401  (registers every dataset)
from vpbench.data.access import acquire, iter_images, open_split, read_labels
from vpbench.data.cache import CachedSplit, build_cache, load_cache, verify_cache
from vpbench.data.nshot import (
    NShotSplit,
    labels_digest,
    load_split,
    nshot_indices,
    parse_shots,
    write_split,
)
from vpbench.data.registry import DATASETS, DatasetSpec, SplitSource, get_dataset, register_dataset

__all__ = [
    "DATASETS",
    "CachedSplit",
    "DatasetSpec",
    "NShotSplit",
    "SplitSource",
    "acquire",
    "build_cache",
    "get_dataset",
    "iter_images",
    "labels_digest",
    "load_cache",
    "load_split",
    "nshot_indices",
    "open_split",
    "parse_shots",
    "read_labels",
    "register_dataset",
    "verify_cache",
    "write_split",
]
