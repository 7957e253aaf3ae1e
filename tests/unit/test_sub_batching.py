import numpy as np
import pytest

from stream_classifier.model.runtime import SubBatching, length_sorted_chunks


@pytest.mark.parametrize("seed", range(20))
def test_chunks_cover_every_row_once_within_bounds(seed):
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 512, size=int(rng.integers(1, 200)))
    policy = SubBatching(max_texts=int(rng.integers(1, 64)), max_tokens=int(rng.integers(512, 20000)))
    chunks = length_sorted_chunks(lengths, policy)
    flat = np.concatenate(chunks)
    assert sorted(flat.tolist()) == list(range(len(lengths)))
    for chunk in chunks:
        assert len(chunk) <= policy.max_texts
        assert len(chunk) == 1 or len(chunk) * lengths[chunk].max() <= policy.max_tokens
        assert len(chunk) == 1 or len(chunk) * lengths[chunk].max() ** 2 <= policy.max_attention_cells
    maxima = [lengths[c].max() for c in chunks]
    assert maxima == sorted(maxima), "sub-batches follow the length order"


def test_similar_lengths_share_a_sub_batch_and_outliers_do_not():
    lengths = np.array([30, 31, 500, 29, 32, 30])
    chunks = length_sorted_chunks(lengths, SubBatching(max_texts=64, max_tokens=100_000))
    assert [sorted(lengths[c].tolist()) for c in chunks] == [[29, 30, 30, 31, 32], [500]]
