"""Text/DNA tasks in native formats (HF parquet, UCI splice.data) → token caches with train vocabularies."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vpbench.data import build_cache, get_dataset, load_cache, open_split, text_tasks, verify_cache
from vpbench.data.token_cache import build_token_cache, check_same_tokenizer, load_vocabulary
from vpbench.data.tokenizers import UNK_ID, WordVocabulary
from vpbench.errors import CacheCorruptError, MissingSourceError

SPLICE_LINES = {"EI": "CCAGCTGCATCACAGGAGGCCAGCGAGCAGGTCTGTTCCAAGGGCCTTCGAGCCAGTCTG",
                "IE": "AGACCCGCCGGGAGGCGGAGGACCTGCAGGGTGAGCCCCACCGCCCCTCCGTGCCCCCGC",
                "N": "GAGCTCCTGCAGAGGTCACTGGAGGCAGAGACAAGGTCCAGGAGTDCGGGAGCGCGAGCA"}  # fmt: skip


@pytest.fixture
def no_transformers(monkeypatch):
    """Text tasks default to ``auto``: without transformers it is the offline word vocabulary."""
    monkeypatch.setitem(sys.modules, "transformers", None)


def _parquet(path: Path, texts: list[str], labels: list[int], field: str = "text", **extra) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({field: texts, "label": np.asarray(labels, dtype=np.int64), **extra}).to_parquet(path)


def _write_splice(root: Path, per_class: dict[str, int]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        f"{label},{' ' * 6}{label}-{i},{' ' * 7}{SPLICE_LINES[label]}"
        for label, count in per_class.items()
        for i in range(count)
    ]
    path = root / "splice.data"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


def test_text_and_dna_tasks_are_registered_with_their_modality():
    expected = {
        "yelp_polarity": 2,
        "imdb": 2,
        "ag_news": 4,
        "dbpedia_14": 14,
        "splice": 3,
        "synthetic_dna": 3,
    }
    for name, classes in expected.items():
        spec = get_dataset(name)
        assert spec.num_classes == classes and spec.input_size == 512
        assert spec.modality == ("dna" if name in ("splice", "synthetic_dna") else "text")
    assert get_dataset("splice").class_names() == ("EI", "IE", "N")


def test_hf_parquet_shards_are_read_in_order_and_other_splits_ignored(tmp_path):
    root = tmp_path / "imdb"
    _parquet(root / "plain_text" / "train-00000-of-00002.parquet", ["good", "bad"], [1, 0])
    _parquet(root / "plain_text" / "train-00001-of-00002.parquet", ["fine"], [1])
    _parquet(root / "plain_text" / "unsupervised-00000-of-00001.parquet", ["?"], [-1])
    source = open_split("imdb", "train", root)
    assert source.texts == ["good", "bad", "fine"] and source.labels.tolist() == [1, 0, 1]
    with pytest.raises(MissingSourceError, match=r"\*\*/train-\*\.parquet and \*\*/test-\*\.parquet"):
        open_split("imdb", "test", root)


def test_dbpedia_reads_the_content_column_and_names_a_missing_one(tmp_path):
    root = tmp_path / "dbpedia_14"
    _parquet(root / "dbpedia_14" / "train-00000-of-00001.parquet", ["a company"], [0], "content", title=["X"])
    assert open_split("dbpedia_14", "train", root).texts == ["a company"]
    _parquet(root / "dbpedia_14" / "test-00000-of-00001.parquet", ["no content"], [0], "text")
    with pytest.raises(MissingSourceError, match="columns 'content' and 'label'"):
        open_split("dbpedia_14", "test", root)


def test_splice_file_parsing_and_malformed_lines(tmp_path):
    path = _write_splice(tmp_path / "splice", {"EI": 2, "IE": 1, "N": 1})
    labels, names, sequences = text_tasks.parse_splice(path)
    assert labels.tolist() == [0, 0, 1, 2] and names[0] == "EI-0" and sequences[3] == SPLICE_LINES["N"]
    path.write_text("XX, name, ACGT\n", encoding="ascii")
    with pytest.raises(MissingSourceError, match="line 1: expected 'class, instance name, sequence'"):
        text_tasks.parse_splice(path)


def test_splice_split_is_disjoint_stratified_and_deterministic(tmp_path):
    root = tmp_path / "splice"
    _write_splice(root, {"EI": 40, "IE": 40, "N": 80})
    train, test = open_split("splice", "train", root), open_split("splice", "test", root)
    assert len(train) == 128 and len(test) == 32
    assert np.bincount(test.labels).tolist() == [8, 8, 16] and np.bincount(train.labels).tolist() == [
        32,
        32,
        64,
    ]
    _, names, _ = text_tasks.parse_splice(root / "splice.data")
    positions = text_tasks._splice_split(root / "splice.data", (root / "splice.data").stat().st_mtime_ns)[2]
    assert not set(positions["train"]) & set(positions["test"])
    assert sorted([*positions["train"], *positions["test"]]) == list(range(len(names)))
    assert open_split("splice", "test", root).texts == test.texts


def test_splice_download_extracts_splice_data_from_the_uci_archive(tmp_path, monkeypatch):
    staged = _write_splice(tmp_path / "staged", {"EI": 5, "IE": 5, "N": 5})

    def fake_fetch(urls, dest, sha256, progress=True):
        assert urls == [text_tasks.SPLICE_URL] and sha256 is None
        with zipfile.ZipFile(dest, "w") as archive:
            archive.write(staged, "splice.data")
        return "unused"

    monkeypatch.setattr("vpbench.sources.download.fetch", fake_fetch)
    root = tmp_path / "raw" / "splice"
    get_dataset("splice").reader.download(root, "train")
    assert (root / "splice.data").read_bytes() == staged.read_bytes()
    assert [p.name for p in root.iterdir()] == ["splice.data"]


def test_synthetic_dna_is_deterministic_and_every_sequence_holds_only_its_motif():
    train = text_tasks.synthetic_dna("train")
    assert len(train) == 900 and np.bincount(train.labels).tolist() == [300, 300, 300]
    for label, text in zip(train.labels, train.texts, strict=True):
        assert len(text) == 60 and set(text) <= set("ACGT")
        assert [motif in text for motif in text_tasks.SYNTHETIC_MOTIFS].count(True) == 1
        assert text_tasks.SYNTHETIC_MOTIFS[label] in text
    assert text_tasks.synthetic_dna("train").texts == train.texts
    assert not set(train.texts) & set(text_tasks.synthetic_dna("test").texts)


def test_token_cache_uses_the_train_vocabulary_for_test(tmp_path, no_transformers):
    root = tmp_path / "ag_news"
    _parquet(
        root / "data" / "train-00000-of-00001.parquet", ["stocks rise", "team wins", "stocks fall"], [2, 1, 2]
    )
    _parquet(root / "data" / "test-00000-of-00001.parquet", ["team loses stocks"], [1])
    with pytest.warns(UserWarning, match="falls back"):
        train = build_cache(
            "ag_news", "train", root, tmp_path / "train-8px-square", input_size=8, progress=False
        )
    with pytest.warns(UserWarning, match="falls back"):
        test = build_cache(
            "ag_news", "test", root, tmp_path / "test-8px-square", input_size=8, progress=False
        )
    vocabulary = WordVocabulary.from_texts(["stocks rise", "team wins", "stocks fall"])
    assert train["tokenizer"] == test["tokenizer"] == vocabulary.record()
    check_same_tokenizer(train, test)
    cached = load_cache(tmp_path / "test-8px-square", verify=True)
    index = vocabulary.index
    assert cached.images.dtype == np.int64 and cached.images.shape == (1, 8)
    assert cached.images[0].tolist() == [index["team"], UNK_ID, index["stocks"], 0, 0, 0, 0, 0]
    assert load_vocabulary(tmp_path / "train-8px-square") == vocabulary
    assert train["array_file"] == "tokens.npy" and set(train["sha256"]) == {
        "tokens.npy",
        "labels.npy",
        "vocab.json",
    }
    assert train["source_sha256"].keys() == {"train-00000-of-00001.parquet"}


def test_a_given_vocabulary_and_a_per_class_limit_leave_ids_unchanged(tmp_path):
    root = tmp_path / "yelp_polarity"
    texts = ["good food", "bad food", "good staff", "rude staff"]
    _parquet(root / "plain_text" / "train-00000-of-00001.parquet", texts, [1, 0, 1, 0])
    vocabulary = WordVocabulary.from_texts(texts)
    manifest = build_token_cache(
        "yelp_polarity", "train", root, tmp_path / "c", input_size=4, vocabulary=vocabulary,
        limit_per_class=1, progress=False,
    )  # fmt: skip
    assert manifest["count"] == 2 and manifest["tokenizer"]["vocab_sha256"] == vocabulary.sha256
    assert load_cache(tmp_path / "c").images.tolist() == vocabulary.encode(texts[:2], 4).tolist()


def test_dna_token_cache_detects_a_corrupt_token_file(tmp_path):
    manifest = build_cache("synthetic_dna", "test", None, tmp_path / "c", progress=False)
    assert (
        manifest["tokenizer"]["name"] == "char"
        and manifest["vocab_size"] == 258
        and manifest["shape"] == [450, 512]
    )
    tokens = tmp_path / "c" / "tokens.npy"
    data = bytearray(tokens.read_bytes())
    data[-1] ^= 1
    tokens.write_bytes(bytes(data))
    with pytest.raises(CacheCorruptError, match=r"tokens\.npy is corrupt"):
        verify_cache(tmp_path / "c")


def test_caches_tokenized_differently_are_refused(tmp_path):
    dna = build_cache("synthetic_dna", "test", None, tmp_path / "dna", input_size=8, progress=False)
    other = json.loads(json.dumps(dna))
    other["tokenizer"]["name"] = "word"
    with pytest.raises(CacheCorruptError, match="tokenized differently"):
        check_same_tokenizer(dna, other)
