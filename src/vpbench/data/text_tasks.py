"""Text and DNA tasks for cross-modal reprogramming
(docs/methods/cmr.md, docs/sources/datasets.md); importing registers them.

- ``yelp_polarity``, ``imdb``, ``ag_news``, ``dbpedia_14``: the Hugging Face datasets' parquet files,
  pre-staged under the dataset root (any sub-folder): ``**/train-*.parquet`` and ``**/test-*.parquet`` with a
  text column (``text``; ``content`` for DBpedia-14) and an int ``label`` column, as written by
  ``huggingface-cli download <repo> --repo-type dataset --local-dir <root>``. Read with pyarrow.
- ``splice``: the UCI splice-junction file ``<root>/splice.data`` (``class, instance name, sequence`` per
  line; classes EI/IE/N), with a seeded stratified 80/20 split because none is official.
- ``synthetic_dna``: an offline demo task generated in memory: 3 classes, 60-nt uniform random DNA with the
  class's 6-mer planted at a uniform position, 300 train / 150 test per class.

For these datasets ``input_size`` is the token length of the cache (512 as in the published code), not a
pixel size; the reader's ``tokenizer`` names the default tokenizer (:mod:`vpbench.data.tokenizers`).
"""

from __future__ import annotations

import functools
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vpbench.data.demo import _stratified_split
from vpbench.data.registry import DatasetSpec, register_dataset
from vpbench.errors import MissingSourceError
from vpbench.runtime.atomic_io import write_bytes

TOKEN_LENGTH = 512  # bert-base-cased max length; DNA padded to the same length (docs/methods/cmr.md)
SPLICE_FILE = "splice.data"
SPLICE_CLASSES = ("EI", "IE", "N")
SPLICE_URL = (
    "https://archive.ics.uci.edu/static/public/69/molecular+biology+splice+junction+gene+sequences.zip"
)
SPLICE_TEST_FRACTION = 0.2
SPLIT_SEED = 0
# Homopolymer 6-mers: a class shows as a run of one patch and in the base composition, which a frozen
# ImageNet model (or the tests' random conv net) can pick up within a demo's few hundred steps.
SYNTHETIC_MOTIFS = ("AAAAAA", "CCCCCC", "GGGGGG")
SYNTHETIC_LENGTH = 60
SYNTHETIC_COUNTS = {"train": 300, "test": 150}  # per class
SYNTHETIC_SEEDS = {"train": 0, "test": 1}
NUCLEOTIDES = np.frombuffer(b"ACGT", dtype=np.uint8)


@dataclass(frozen=True)
class TextSplitSource:
    """One split of a text/DNA dataset: int64 labels and the raw strings, in split order."""

    labels: np.ndarray
    texts: Sequence[str]

    def __len__(self) -> int:
        return len(self.labels)


class HfParquetReader:
    """A Hugging Face dataset pre-staged as parquet files (no ``datasets`` package needed)."""

    tokenizer = "auto"

    def __init__(self, name: str, repo: str, text_field: str) -> None:
        self.name, self.repo, self.text_field = name, repo, text_field

    def source_files(self, root: Path | None, split: str) -> list[Path]:
        """The split's parquet shards under ``root``, sorted by path (shard order = row order)."""
        if root is None or not Path(root).is_dir():
            return []
        return sorted(Path(root).rglob(f"{split}-*.parquet"))

    def is_staged(self, root: Path | None, split: str, verify_md5: bool) -> bool:
        """Whether at least one ``{split}-*.parquet`` shard lies under ``root``."""
        return bool(self.source_files(root, split))

    def download(self, root: Path | None, split: str) -> None:
        """Not automated (no published checksums): say exactly how to pre-stage the files."""
        raise MissingSourceError(
            f"dataset {self.name!r}: vpbench reads pre-staged parquet files only; run "
            f"`huggingface-cli download {self.repo} --repo-type dataset --include '*.parquet' "
            f"--local-dir {root}` (pin a revision with --revision)"
        )

    def open_split(self, root: Path | None, split: str, verify_md5: bool) -> TextSplitSource:
        """Concatenate the shards' text and label columns."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for path in self.source_files(root, split):
            try:
                tables.append(pq.read_table(path, columns=[self.text_field, "label"]))
            except (pa.ArrowInvalid, KeyError) as exc:
                raise MissingSourceError(
                    f"dataset {self.name!r}: {path} is not a parquet file with columns "
                    f"{self.text_field!r} and 'label' ({exc})"
                ) from exc
        table = pa.concat_tables(tables)
        return TextSplitSource(
            labels=np.asarray(table.column("label").to_numpy(), dtype=np.int64),
            texts=table.column(self.text_field).to_pylist(),
        )


def parse_splice(path: Path) -> tuple[np.ndarray, list[str], list[str]]:
    """``(labels, instance names, sequences)`` of a UCI ``splice.data`` file; labels index SPLICE_CLASSES."""
    labels, names, sequences = [], [], []
    for number, line in enumerate(Path(path).read_text(encoding="ascii").splitlines(), start=1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != 3 or fields[0] not in SPLICE_CLASSES or not fields[2].isalpha():
            raise MissingSourceError(
                f"{path}, line {number}: expected 'class, instance name, sequence' with class in "
                f"{', '.join(SPLICE_CLASSES)}, got {line.strip()[:80]!r}"
            )
        labels.append(SPLICE_CLASSES.index(fields[0]))
        names.append(fields[1])
        sequences.append(fields[2].upper())
    return np.asarray(labels, dtype=np.int64), names, sequences


@functools.cache
def _splice_split(path: Path, mtime_ns: int) -> tuple[np.ndarray, list[str], dict[str, np.ndarray]]:
    labels, _, sequences = parse_splice(path)
    return labels, sequences, _stratified_split(labels, SPLICE_TEST_FRACTION, SPLIT_SEED)


class SpliceReader:
    """UCI splice-junction sequences from ``<root>/splice.data``, split 80/20 stratified with seed 0."""

    name = "splice"
    tokenizer = "char"

    def source_files(self, root: Path | None, split: str) -> list[Path]:
        """The one source file (both splits come from it)."""
        path = Path(root) / SPLICE_FILE if root is not None else None
        return [path] if path is not None and path.is_file() else []

    def is_staged(self, root: Path | None, split: str, verify_md5: bool) -> bool:
        """Whether ``splice.data`` exists under ``root``."""
        return bool(self.source_files(root, split))

    def download(self, root: Path | None, split: str) -> None:
        """Fetch the UCI archive (no published checksum: the cache manifest records the file's sha256)."""
        from vpbench.sources.download import fetch

        if root is None:
            raise MissingSourceError(f"dataset 'splice' needs a data root to download {SPLICE_URL} into")
        Path(root).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            archive_path = Path(tmp) / "splice.zip"
            fetch([SPLICE_URL], archive_path, None, progress=False)
            with zipfile.ZipFile(archive_path) as archive:
                members = [m for m in archive.namelist() if Path(m).name == SPLICE_FILE]
                if not members:
                    raise MissingSourceError(f"{SPLICE_URL} holds no {SPLICE_FILE}; place it at {root}")
                write_bytes(Path(root) / SPLICE_FILE, archive.read(members[0]))

    def open_split(self, root: Path | None, split: str, verify_md5: bool) -> TextSplitSource:
        """The split's sequences (upper-case, ambiguity codes D/N/S/R kept) and labels."""
        path = Path(root) / SPLICE_FILE
        labels, sequences, splits = _splice_split(path, path.stat().st_mtime_ns)
        positions = splits[split]
        return TextSplitSource(labels=labels[positions], texts=[sequences[p] for p in positions])


def synthetic_dna(split: str) -> TextSplitSource:
    """The planted-motif task: per class, random ACGT sequences with that class's 6-mer at a random spot.

    Sequences that contain another class's motif are redrawn, so every label is unambiguous.
    """
    rng = np.random.Generator(np.random.PCG64(SYNTHETIC_SEEDS[split]))
    labels, texts = [], []
    for label, motif in enumerate(SYNTHETIC_MOTIFS):
        others = [m for m in SYNTHETIC_MOTIFS if m != motif]
        while len(texts) < (label + 1) * SYNTHETIC_COUNTS[split]:
            background = NUCLEOTIDES[rng.integers(0, 4, SYNTHETIC_LENGTH)].tobytes().decode("ascii")
            start = int(rng.integers(0, SYNTHETIC_LENGTH - len(motif) + 1))
            sequence = background[:start] + motif + background[start + len(motif) :]
            if not any(other in sequence for other in others):
                labels.append(label)
                texts.append(sequence)
    return TextSplitSource(labels=np.asarray(labels, dtype=np.int64), texts=texts)


class SyntheticDnaReader:
    """Generated in memory: nothing to stage or download."""

    name = "synthetic_dna"
    tokenizer = "char"
    packaged = True

    def source_files(self, root: Path | None, split: str) -> list[Path]:
        """No files: the data are a deterministic function of the seeds above."""
        return []

    def is_staged(self, root: Path | None, split: str, verify_md5: bool) -> bool:
        """Always available."""
        return True

    def download(self, root: Path | None, split: str) -> None:
        """Nothing to download."""

    def open_split(self, root: Path | None, split: str, verify_md5: bool) -> TextSplitSource:
        """The generated split (class-major order)."""
        return synthetic_dna(split)


_HF = "https://huggingface.co/datasets/"


def _register_hf(
    name: str,
    repo: str,
    field: str,
    classes: tuple[str, ...],
    sizes: tuple[int, int],
    cite: str,
    label: str,
    note: str = "",
) -> None:
    register_dataset(
        DatasetSpec(
            name=name,
            label=label,
            num_classes=len(classes),
            input_size=TOKEN_LENGTH,
            reader=HfParquetReader(name, repo, field),
            class_names_fn=lambda: classes,
            split_policy=f"official Hugging Face train/test splits of {repo} "
            f"({sizes[0]:,} / {sizes[1]:,}{note}); text field {field!r}",
            split_sizes=sizes,
            prestage_help=f"**/train-*.parquet and **/test-*.parquet with columns {field!r} and 'label' "
            f"(huggingface-cli download {repo} --repo-type dataset --include '*.parquet' --local-dir <root>)",
            sources=(f"{_HF}{repo} (parquet)",),
            licence="see the dataset card on the Hugging Face Hub",
            citation=cite,
            modality="text",
        )
    )


_ZHANG = (
    "Zhang, X., Zhao, J., LeCun, Y. (2015). Character-level Convolutional Networks for Text Classification."
)
_register_hf(
    "yelp_polarity", "fancyzhx/yelp_polarity", "text", ("negative", "positive"), (560_000, 38_000), _ZHANG,
    "Yelp",
)  # fmt: skip
_register_hf(
    "imdb", "stanfordnlp/imdb", "text", ("negative", "positive"), (25_000, 25_000),
    "Maas, A. L., et al. (2011). Learning Word Vectors for Sentiment Analysis. ACL.", "IMDB",
    "; unsupervised unused",
)  # fmt: skip
_register_hf(
    "ag_news", "fancyzhx/ag_news", "text", ("World", "Sports", "Business", "Sci/Tech"), (120_000, 7_600),
    _ZHANG, "AG News",
)  # fmt: skip
_register_hf(
    "dbpedia_14", "fancyzhx/dbpedia_14", "content",
    ("Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder", "MeanOfTransportation",
     "Building", "NaturalPlace", "Village", "Animal", "Plant", "Album", "Film", "WrittenWork"),
    (560_000, 70_000), _ZHANG, "DBPedia",
)  # fmt: skip

SPLICE = register_dataset(
    DatasetSpec(
        name="splice",
        split_sizes=(2_552, 638),  # 3,190 instances, test_size=0.2 rounded up
        label="Splice",
        num_classes=3,
        input_size=TOKEN_LENGTH,
        reader=SpliceReader(),
        class_names_fn=lambda: SPLICE_CLASSES,
        split_policy="no official split: seeded stratified disjoint split of the 3,190 instances of "
        "splice.data (sklearn train_test_split, test_size=0.2, stratify=labels, random_state=0, indices "
        "sorted); 60-nt sequences, character tokens padded to 512",
        prestage_help=f"{SPLICE_FILE} (from the UCI archive {SPLICE_URL})",
        sources=(f"{SPLICE_URL} (UCI id 69; no published checksum)",),
        licence="CC BY 4.0 (UCI)",
        citation="Towell, G., Noordewier, M., Shavlik, J. (1992). Molecular Biology (Splice-junction Gene "
        "Sequences). UCI Machine Learning Repository.",
        modality="dna",
    )
)

SYNTHETIC_DNA = register_dataset(
    DatasetSpec(
        name="synthetic_dna",
        split_sizes=(
            SYNTHETIC_COUNTS["train"] * len(SYNTHETIC_MOTIFS),
            SYNTHETIC_COUNTS["test"] * len(SYNTHETIC_MOTIFS),
        ),
        label="Synthetic DNA",
        num_classes=len(SYNTHETIC_MOTIFS),
        input_size=TOKEN_LENGTH,
        reader=SyntheticDnaReader(),
        class_names_fn=lambda: tuple(f"motif {m}" for m in SYNTHETIC_MOTIFS),
        split_policy=f"generated: per class {SYNTHETIC_COUNTS['train']} train / {SYNTHETIC_COUNTS['test']} "
        f"test uniform-ACGT sequences of {SYNTHETIC_LENGTH} nt with the class motif "
        f"({', '.join(SYNTHETIC_MOTIFS)}) at a uniform position, sequences holding another class's motif "
        "redrawn; numpy PCG64 seed 0 (train) and 1 (test)",
        prestage_help="nothing to place: generated by vpbench.data.text_tasks.synthetic_dna",
        sources=("generated by vpbench (offline demo of cross-modal reprogramming)",),
        licence="CC0 (synthetic)",
        citation="vpbench synthetic planted-motif DNA task.",
        modality="dna",
    )
)
