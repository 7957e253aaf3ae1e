"""Small random-weight Hugging Face checkpoints of the families the builder supports."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tokenizers_fixtures import e5_tokenizer_file, write_bert_vocab

NLI_LABELS = {"contradiction": 0, "neutral": 1, "entailment": 2}
SMALL = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=128
)


def make_checkpoint(directory: Path, family: str, engine: str) -> Path:
    """Write config, weights and tokenizer for `family` (bert|structbert|xlmr|deberta)."""
    from transformers import (
        AutoModel,
        AutoModelForSequenceClassification,
        BertConfig,
        BertTokenizerFast,
        DebertaV2Config,
        DebertaV2TokenizerFast,
        XLMRobertaConfig,
        XLMRobertaTokenizerFast,
    )

    torch.manual_seed(1234)
    directory.mkdir(parents=True, exist_ok=True)
    labels = {"id2label": {v: k for k, v in NLI_LABELS.items()}, "label2id": NLI_LABELS} if engine == "nli" else {}
    if family in ("bert", "structbert"):
        tokenizer = BertTokenizerFast(vocab_file=str(write_bert_vocab(directory / "vocab-src")), model_max_length=128)
        config = BertConfig(vocab_size=tokenizer.vocab_size, **SMALL, **labels)
    elif family == "xlmr":
        tokenizer = XLMRobertaTokenizerFast(tokenizer_file=str(e5_tokenizer_file()), model_max_length=126)
        config = XLMRobertaConfig(
            vocab_size=len(tokenizer),
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
            type_vocab_size=1,
            **{**SMALL, "max_position_embeddings": 130},
            **labels,
        )
    elif family == "deberta":
        tokenizer = DebertaV2TokenizerFast(tokenizer_file=str(e5_tokenizer_file()), model_max_length=128)
        config = DebertaV2Config(
            vocab_size=len(tokenizer),
            type_vocab_size=0,
            relative_attention=True,
            position_buckets=32,
            pos_att_type=["p2c", "c2p"],
            **SMALL,
            **labels,
        )
    else:
        raise ValueError(family)
    model_cls = AutoModelForSequenceClassification if engine == "nli" else AutoModel
    model = model_cls.from_config(config)
    model.eval()
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    if family == "structbert":
        config_path = directory / "config.json"
        raw = json.loads(config_path.read_text())
        raw["model_type"] = "structbert"
        raw.pop("architectures", None)
        config_path.write_text(json.dumps(raw))
    return directory


def torch_logits(directory: Path, family: str, texts: list[str], hyps: list[str]):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(directory)
    if family == "structbert":
        model = BertForSequenceClassification.from_pretrained(directory)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(directory)
    model.eval()
    pairs_t = [t for t in texts for _ in hyps]
    pairs_h = [h for _ in texts for h in hyps]
    enc = tokenizer(pairs_t, pairs_h, truncation="only_first", padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits.numpy().reshape(len(texts), len(hyps), -1)
