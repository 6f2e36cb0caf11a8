"""Tokenizers for cross-modal reprogramming (docs/methods/cmr.md): text or DNA → fixed-length int64 token ids.

- ``char``: DNA at character level, id = byte + 2, PAD = 0 (Neekhara et al.); vocabulary size 258.
- ``word``: an offline word-level vocabulary built from the TRAINING texts only (PAD = 0, UNK = 1), so
  nothing is downloaded; the same train split always gives the same vocabulary.
- ``bert-base-cased``: Hugging Face ``transformers`` (not a vpbench dependency), truncation and padding to
  the configured length, as in the published code; needs the package and the tokenizer files (online or
  in the local Hugging Face cache).
- ``auto``: ``bert-base-cased`` when it loads, else ``word`` (with a warning); caches record which one ran.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from vpbench.errors import ConfigError, MissingSourceError

PAD_ID = 0
UNK_ID = 1
CHAR_OFFSET = 2
BERT_NAME = "bert-base-cased"
TOKENIZER_NAMES = ("char", "word", BERT_NAME, "auto")
WORD_PATTERN = re.compile(r"\w+|[^\w\s]")
DEFAULT_WORD_VOCAB_SIZE = 30_000  # ≈ BERT-cased's 28,996, so the embedding table has the paper's size


class Tokenizer(Protocol):
    """What the token cache needs: a name, a vocabulary size, batch encoding and a manifest record."""

    name: str

    @property
    def vocab_size(self) -> int:
        """Number of rows the embedding table needs (largest id + 1)."""
        ...

    def encode(self, texts: Sequence[str], length: int) -> np.ndarray:
        """int64 ids [len(texts), length]: truncated, then right-padded with PAD = 0."""
        ...

    def record(self) -> dict[str, Any]:
        """JSON-able description (name, sizes, vocabulary sha256) for cache manifests."""
        ...


def _pad(rows: Iterable[Sequence[int]], length: int) -> np.ndarray:
    rows = list(rows)
    out = np.full((len(rows), length), PAD_ID, dtype=np.int64)
    for row, ids in enumerate(rows):
        ids = ids[:length]
        out[row, : len(ids)] = ids
    return out


def _check_length(length: int) -> None:
    if length < 1:
        raise ConfigError(f"token length must be a positive integer, got {length!r}")


@dataclass(frozen=True)
class CharTokenizer:
    """Character-level tokens for DNA: each UTF-8 byte b becomes id b + 2; PAD = 0 (id 1 is unused)."""

    name: str = "char"

    @property
    def vocab_size(self) -> int:
        """256 byte values shifted by 2."""
        return 256 + CHAR_OFFSET

    def encode(self, texts: Sequence[str], length: int) -> np.ndarray:
        """int64 ids [N, length]; sequences longer than ``length`` are truncated."""
        _check_length(length)
        rows = (
            np.frombuffer(t.encode("utf-8"), dtype=np.uint8).astype(np.int64) + CHAR_OFFSET for t in texts
        )
        return _pad(rows, length)

    def record(self) -> dict[str, Any]:
        """Manifest entry."""
        return {"name": self.name, "vocab_size": self.vocab_size, "pad_id": PAD_ID, "rule": "id = byte + 2"}


def split_words(text: str) -> list[str]:
    """Lower-cased words and single punctuation marks (``\\w+|[^\\w\\s]``)."""
    return WORD_PATTERN.findall(text.lower())


@dataclass(frozen=True)
class WordVocabulary:
    """A word-level vocabulary: ``tokens[i]`` has id i; 0 = ``[PAD]``, 1 = ``[UNK]``, then by frequency."""

    tokens: tuple[str, ...]
    min_count: int = 1
    name: str = "word"

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], max_size: int = DEFAULT_WORD_VOCAB_SIZE, min_count: int = 1
    ) -> WordVocabulary:
        """Count words over ``texts`` (the training split only) and keep the ``max_size`` − 2 most frequent.

        Ties in frequency are broken alphabetically, so the result depends only on the texts' contents.
        """
        if max_size < 3 or min_count < 1:
            raise ConfigError(
                f"word vocabulary needs max_size >= 3 and min_count >= 1, got {max_size}, {min_count}"
            )
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(split_words(text))
        kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        return cls(("[PAD]", "[UNK]", *kept[: max_size - 2]), min_count)

    @property
    def vocab_size(self) -> int:
        """Number of entries, specials included."""
        return len(self.tokens)

    @property
    def index(self) -> dict[str, int]:
        """word → id."""
        return {token: position for position, token in enumerate(self.tokens)}

    def encode(self, texts: Sequence[str], length: int) -> np.ndarray:
        """int64 ids [N, length]; unknown words → UNK = 1."""
        _check_length(length)
        index = self.index
        return _pad(([index.get(w, UNK_ID) for w in split_words(text)] for text in texts), length)

    def to_json(self) -> str:
        """The vocabulary as stable JSON text (saved next to a token cache as ``vocab.json``)."""
        return (
            json.dumps({"name": self.name, "min_count": self.min_count, "tokens": list(self.tokens)}) + "\n"
        )

    @classmethod
    def from_json(cls, text: str) -> WordVocabulary:
        """Inverse of :meth:`to_json`."""
        data = json.loads(text)
        return cls(tuple(data["tokens"]), int(data["min_count"]))

    @property
    def sha256(self) -> str:
        """Digest of the token list: equal vocabularies have equal digests."""
        return hashlib.sha256(json.dumps(list(self.tokens)).encode("utf-8")).hexdigest()

    def record(self) -> dict[str, Any]:
        """Manifest entry."""
        return {
            "name": self.name, "vocab_size": self.vocab_size, "pad_id": PAD_ID, "unk_id": UNK_ID,
            "min_count": self.min_count, "vocab_sha256": self.sha256, "rule": "lower-cased \\w+|[^\\w\\s]; "
            "built from the train split only, most frequent first, ties alphabetical",
        }  # fmt: skip


class PretrainedTokenizer:
    """A Hugging Face tokenizer (``bert-base-cased``): truncation and padding to the length, as published."""

    def __init__(self, name: str = BERT_NAME) -> None:
        try:
            import transformers
        except ImportError:
            raise MissingSourceError(
                f"tokenizer {name!r} needs the 'transformers' package, which vpbench does not install: "
                "pip install transformers (or use the offline 'word' tokenizer)"
            ) from None
        try:
            self._tokenizer = transformers.AutoTokenizer.from_pretrained(name)
        except OSError as exc:
            raise MissingSourceError(
                f"tokenizer {name!r} could not be loaded by transformers ({exc}); go online once so it lands "
                "in the Hugging Face cache, or use the offline 'word' tokenizer"
            ) from exc
        self.name = name
        self._version = transformers.__version__

    @property
    def vocab_size(self) -> int:
        """Size of the tokenizer's vocabulary (28,996 for bert-base-cased)."""
        return len(self._tokenizer.get_vocab())

    def encode(self, texts: Sequence[str], length: int) -> np.ndarray:
        """int64 ids [N, length] (``truncation=True, padding='max_length'``)."""
        _check_length(length)
        encoded = self._tokenizer(list(texts), truncation=True, padding="max_length", max_length=length)
        return np.asarray(encoded["input_ids"], dtype=np.int64).reshape(len(texts), length)

    def record(self) -> dict[str, Any]:
        """Manifest entry, with a digest of the vocabulary so a changed tokenizer is noticed."""
        vocab = sorted(self._tokenizer.get_vocab().items())
        return {
            "name": self.name,
            "vocab_size": self.vocab_size,
            "pad_id": int(self._tokenizer.pad_token_id),
            "transformers_version": self._version,
            "vocab_sha256": hashlib.sha256(json.dumps(vocab).encode("utf-8")).hexdigest(),
        }


def make_tokenizer(name: str, train_texts: Callable[[], Iterable[str]] | None = None) -> Tokenizer:
    """The tokenizer called ``name``; ``word`` (and ``auto`` when it falls back) counts ``train_texts()``."""
    if name not in TOKENIZER_NAMES:
        raise ConfigError(f"unknown tokenizer {name!r}; allowed: {', '.join(TOKENIZER_NAMES)}")
    if name == "char":
        return CharTokenizer()
    if name in (BERT_NAME, "auto"):
        try:
            return PretrainedTokenizer(BERT_NAME)
        except MissingSourceError as exc:
            if name == BERT_NAME:
                raise
            warnings.warn(f"{exc}; tokenizer 'auto' falls back to the word-level vocabulary", stacklevel=2)
    if train_texts is None:
        raise ConfigError("the word-level tokenizer needs the training texts to build its vocabulary")
    return WordVocabulary.from_texts(train_texts())
