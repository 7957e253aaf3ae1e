"""NLI pairs assembled with numpy from cached ids equal what the tokenizer itself produces."""

import random

import numpy as np
import pytest
from tokenizers import Tokenizer
from tokenizers_fixtures import e5_tokenizer_file, write_bert_vocab
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

from stream_classifier.labels import DEFAULT_TEMPLATE
from stream_classifier.model.pairs import assemble_pairs, assemble_singles, pair_layout, single_layout
from stream_classifier_workbench.datasets.reviews import stream_texts

LABELS = ["投诉", "咨询", "建议", "表扬", "其他", "物流与快递", "价格 price", "售后服务和退款"]
PAIRS = 1200


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    e5 = PreTrainedTokenizerFast(
        tokenizer_file=str(e5_tokenizer_file()), bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    bert = BertTokenizerFast(vocab_file=str(write_bert_vocab(tmp_path_factory.mktemp("vocab"))))
    return {"xlmr": e5, "bert": bert}


def _own_copy(hf) -> Tokenizer:
    """The HF wrapper sets truncation on its backend per call; ours must stay untouched."""
    tok = Tokenizer.from_str(hf.backend_tokenizer.to_str())
    tok.no_truncation()
    tok.no_padding()
    return tok


def _random_pairs(seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts = stream_texts(limit=3000)
    long_texts = [t for t in texts if len(t) > 300]
    chosen = rng.sample(texts, 260) + rng.sample(long_texts, 40) + ["", "a", "😀 emoji", "  spaces  "]
    hyps = [DEFAULT_TEMPLATE.format(label=label) for label in LABELS]
    return chosen, hyps


@pytest.mark.parametrize("kind", ["xlmr", "bert"])
@pytest.mark.parametrize("max_length", [64, 128])
def test_assembled_pairs_equal_tokenizer_only_first(tokenizers, kind, max_length):
    hf = tokenizers[kind]
    fast = _own_copy(hf)
    texts, hyps = _random_pairs(seed=max_length)
    text_rows = [e.ids for e in fast.encode_batch(texts, add_special_tokens=False)]
    hyp_rows = [e.ids for e in fast.encode_batch(hyps, add_special_tokens=False)]
    pad_id = hf.pad_token_id
    assembled = assemble_pairs(text_rows, hyp_rows, pair_layout(fast), max_length, pad_id)

    checked = truncated = 0
    for i, text in enumerate(texts):
        for j, hyp in enumerate(hyps):
            expected = hf(text, hyp, truncation="only_first", max_length=max_length)
            row = i * len(hyps) + j
            n = assembled.lengths[row]
            assert assembled.input_ids[row, :n].tolist() == expected["input_ids"]
            assert assembled.attention_mask[row].tolist() == [1] * n + [0] * (assembled.input_ids.shape[1] - n)
            if "token_type_ids" in expected:
                assert assembled.token_type_ids[row, :n].tolist() == expected["token_type_ids"]
            assert (assembled.input_ids[row, n:] == pad_id).all()
            truncated += len(text_rows[i]) + len(hyp_rows[j]) + 4 > max_length
            checked += 1
    assert checked >= PAIRS * 2
    assert truncated > 100, "texts longer than the limit must be part of the check"


def test_bert_layout_has_segment_types(tokenizers):
    layout = pair_layout(_own_copy(tokenizers["bert"]))
    assert (layout.first_type, layout.second_type) == (0, 1)


@pytest.mark.parametrize("kind", ["xlmr", "bert"])
def test_assembled_singles_equal_tokenizer_truncation(tokenizers, kind):
    hf = tokenizers[kind]
    fast = _own_copy(hf)
    texts, _ = _random_pairs(seed=3)
    rows = [e.ids for e in fast.encode_batch(texts, add_special_tokens=False)]
    assembled = assemble_singles(rows, single_layout(fast), 96, hf.pad_token_id)
    for i, text in enumerate(texts):
        expected = hf(text, truncation=True, max_length=96)["input_ids"]
        assert assembled.input_ids[i, : assembled.lengths[i]].tolist() == expected


def test_a_hypothesis_too_long_for_the_limit_is_refused(tokenizers):
    fast = _own_copy(tokenizers["bert"])
    with pytest.raises(ValueError, match="no room"):
        assemble_pairs([[5, 6]], [list(range(10, 70))], pair_layout(fast), 32, 0)


def test_pairs_are_ordered_text_major():
    layout = pair_layout(Tokenizer.from_file(str(e5_tokenizer_file())))
    out = assemble_pairs([[100], [200, 201]], [[7], [8, 9], [10]], layout, 32, 1)
    assert out.input_ids.shape[0] == 6
    assert np.array_equal(out.lengths, [6, 7, 6, 7, 8, 7])
