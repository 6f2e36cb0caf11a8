"""Tokenizers of cross-modal reprogramming: DNA character ids, the offline word vocabulary, BERT's absence."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from vpbench.data.tokenizers import (
    PAD_ID,
    UNK_ID,
    CharTokenizer,
    WordVocabulary,
    make_tokenizer,
    split_words,
)
from vpbench.errors import ConfigError, MissingSourceError


@pytest.fixture
def no_transformers(monkeypatch):
    """Make ``import transformers`` fail whether or not the package is installed."""
    monkeypatch.setitem(sys.modules, "transformers", None)


def test_dna_ids_are_byte_plus_two_padded_with_zero_and_truncated():
    tokenizer = CharTokenizer()
    ids = tokenizer.encode(["ACGT", "GATTACAGATTACA"], 6)
    assert ids.dtype == np.int64
    assert ids.tolist() == [[67, 69, 73, 86, PAD_ID, PAD_ID], [73, 67, 86, 86, 67, 69]]
    assert tokenizer.vocab_size == 258 and tokenizer.record()["rule"] == "id = byte + 2"


def test_a_60_nt_sequence_is_60_tokens_then_padding():
    ids = CharTokenizer().encode(["A" * 60], 512)
    assert (ids[0, :60] == ord("A") + 2).all() and (ids[0, 60:] == PAD_ID).all()


def test_word_vocabulary_orders_by_frequency_then_alphabet_after_the_specials():
    vocabulary = WordVocabulary.from_texts(["the cat sat", "The dog sat!", "a cat"])
    assert vocabulary.tokens[:2] == ("[PAD]", "[UNK]")
    # cat 2, sat 2, the 2 (lower-cased) → alphabetical among equals; then the singletons alphabetically
    assert vocabulary.tokens[2:] == ("cat", "sat", "the", "!", "a", "dog")
    ids = vocabulary.encode(["The cat flew"], 5)
    assert ids.tolist() == [[4, 2, UNK_ID, PAD_ID, PAD_ID]]


def test_word_vocabulary_caps_its_size_and_round_trips_through_json():
    vocabulary = WordVocabulary.from_texts(["b b b a a c"], max_size=4)
    assert vocabulary.tokens == ("[PAD]", "[UNK]", "b", "a") and vocabulary.vocab_size == 4
    again = WordVocabulary.from_json(vocabulary.to_json())
    assert again == vocabulary and again.sha256 == vocabulary.sha256
    assert WordVocabulary.from_texts(["b b b a a d"], max_size=4).sha256 == vocabulary.sha256
    assert WordVocabulary.from_texts(["a a a b b"], max_size=4).sha256 != vocabulary.sha256


def test_split_words_keeps_punctuation_as_tokens():
    assert split_words("Great food, SLOW service!") == ["great", "food", ",", "slow", "service", "!"]


def test_bert_without_transformers_names_the_package(no_transformers):
    with pytest.raises(MissingSourceError, match="'transformers' package"):
        make_tokenizer("bert-base-cased", lambda: ["unused"])


def test_auto_falls_back_to_a_vocabulary_of_the_training_texts(no_transformers):
    with pytest.warns(UserWarning, match="falls back to the word-level vocabulary"):
        tokenizer = make_tokenizer("auto", lambda: ["only train words"])
    assert isinstance(tokenizer, WordVocabulary)
    assert tokenizer.tokens[2:] == ("only", "train", "words")


def test_unknown_tokenizer_and_bad_lengths_are_refused():
    with pytest.raises(ConfigError, match="allowed: char, word, bert-base-cased, auto"):
        make_tokenizer("sentencepiece")
    with pytest.raises(ConfigError, match="needs the training texts"):
        make_tokenizer("word")
    with pytest.raises(ConfigError, match="token length"):
        CharTokenizer().encode(["A"], 0)
