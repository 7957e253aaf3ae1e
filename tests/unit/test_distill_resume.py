"""`model distill` stages on a tiny teacher: an interrupted training run resumes from its
checkpoint to the same weights as an uninterrupted one, and packaging names every input."""

import json
import shutil

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers

from stream_classifier_workbench.building.compact_weights import load_weights, save_weights
from stream_classifier_workbench.training.distill import (
    Batches,
    Recipe,
    Work,
    export_checkpoint,
    package,
    picked_layers,
    student_init,
    targets,
    train,
)

WORDS = [f"w{i}" for i in range(40)]


def _tiny_work(root) -> Work:
    from transformers import BertConfig, BertModel

    work = Work(root)
    vocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>", "query:"] + WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(work.tokenizer))
    shape = {
        "hidden": 32,
        "layers": 12,
        "heads": 4,
        "ffn": 64,
        "eps": 1e-12,
        "max_positions": 64,
        "type_vocab": 2,
        "vocab": len(vocab),
        "full_vocab": len(vocab),
        "pad_id": 1,
    }
    work.shape.write_text(json.dumps(shape))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=12,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    state = BertModel(config, add_pooling_layer=False).state_dict()
    save_weights(work.teacher, {k: v.numpy() for k, v in state.items() if not k.endswith("position_ids")})
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 9))) for _ in range(96)]
    work.texts.write_text(json.dumps({"sources": [{"name": "tiny", "texts": len(texts)}], "texts": texts}))
    return work


def test_layers_are_picked_evenly_first_and_last_included():
    assert picked_layers(3) == [0, 6, 11] and picked_layers(4) == [0, 4, 7, 11]
    assert picked_layers(6) == [0, 2, 4, 7, 9, 11]


def test_student_starts_from_the_teachers_layers(tmp_path):
    work = _tiny_work(tmp_path / "w")
    teacher = load_weights(work.teacher)
    init = student_init(teacher, 3)
    np.testing.assert_array_equal(
        init["encoder.layer.1.output.dense.weight"], teacher["encoder.layer.6.output.dense.weight"]
    )
    assert not any(k.startswith("encoder.layer.3.") for k in init)


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    recipe = Recipe(held_out=16, epochs=2, batch=8, checkpoint_every=4, max_tokens=16)
    whole = _tiny_work(tmp_path / "whole")
    interrupted = tmp_path / "interrupted"
    shutil.copytree(whole.root, interrupted)
    interrupted = Work(interrupted)

    train(whole, 3, recipe, "cpu")
    assert train(interrupted, 3, recipe, "cpu", stop_at=7) is None
    assert interrupted.checkpoint(3).exists() and not interrupted.trained(3).exists()
    train(interrupted, 3, recipe, "cpu")

    a, b = load_weights(whole.trained(3)), load_weights(interrupted.trained(3))
    assert a.keys() == b.keys() and "embeddings.word_embeddings.weight" not in a
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    report = json.loads((interrupted.root / "trained-L3.json").read_text())
    assert report["teacher_layers"] == [0, 6, 11] and 0 < report["held_out_cosine"] <= 1


def test_teacher_targets_are_normalised_and_cached(tmp_path):
    work = _tiny_work(tmp_path / "w")
    first = targets(work, Recipe(max_tokens=16), "cpu")
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-5)
    assert work.targets.exists()
    np.testing.assert_array_equal(targets(work, Recipe(max_tokens=16), "cpu"), first)


def test_per_epoch_counts_the_batches_order_makes(tmp_path):
    import random

    work = _tiny_work(tmp_path / "w")
    batches = Batches(work.tokenizer, json.loads(work.texts.read_text())["texts"] * 140, 16)
    for rows, size in [(96, 8), (80, 3), (1, 128), (6401, 128), (12800, 128), (13000, 128)]:
        made = batches.order(list(range(rows)), size, random.Random(1))
        assert Batches.per_epoch(rows, size) == len(made), (rows, size)


def test_a_checkpoint_exports_the_student_trained_so_far(tmp_path):
    import torch

    recipe = Recipe(held_out=16, epochs=2, batch=8, checkpoint_every=100, max_tokens=16)
    work = _tiny_work(tmp_path / "w")
    assert train(work, 2, recipe, "cpu", stop_at=5) is None
    exported = load_weights(export_checkpoint(work, 2))
    saved = torch.load(work.checkpoint(2), weights_only=False)["model"]
    assert exported.keys() == {k for k in saved if not k.endswith("position_ids")}
    for key, value in exported.items():
        np.testing.assert_allclose(value, saved[key].numpy(), atol=2e-3, err_msg=key)  # stored as fp16
    assert json.loads((work.root / "trained-L2.json").read_text())["steps"] == 5

    # a run stopped where its checkpoint already is trains nothing more
    assert train(work, 2, recipe, "cpu", stop_at=5) is None
    assert torch.load(work.checkpoint(2), weights_only=False)["step"] == 5


def test_the_label_loss_is_zero_at_the_teacher_and_grows_along_what_tells_labels_apart():
    from stream_classifier_workbench.training.distill import label_divergence

    torch.manual_seed(0)
    anchors = torch.nn.functional.normalize(torch.randn(6, 32), dim=-1)
    teacher = torch.nn.functional.normalize(torch.randn(4, 32), dim=-1)
    assert abs(label_divergence(teacher, teacher, anchors, 0.05).item()) < 1e-6
    # the same cosine to the teacher, moved once along the anchors and once across them
    across = torch.linalg.svd(anchors, full_matrices=True).Vh[-1]  # orthogonal to every anchor
    along = anchors[0] - anchors[1]
    moved = [torch.nn.functional.normalize(teacher + 0.2 * d / d.norm(), dim=-1) for d in (along, across)]
    assert label_divergence(moved[0], teacher, anchors, 0.05) > 10 * label_divergence(moved[1], teacher, anchors, 0.05)


def test_a_label_weight_trains_against_the_label_texts_and_needs_them(tmp_path):
    import pytest

    from stream_classifier_workbench.training.operator_texts import DistillInputError

    recipe = Recipe(held_out=16, epochs=1, batch=8, checkpoint_every=100, max_tokens=16, label_weight=1.0)
    work = _tiny_work(tmp_path / "w")
    with pytest.raises(DistillInputError, match="label weight needs label sets"):
        train(work, 2, recipe, "cpu")
    corpus = json.loads(work.texts.read_text())
    corpus["label_texts"] = corpus["texts"][20:26]
    work.texts.write_text(json.dumps(corpus))
    train(work, 2, recipe, "cpu")
    assert json.loads((work.root / "trained-L2.json").read_text())["steps"] > 0


def test_a_checkpoint_from_before_the_label_loss_resumes(tmp_path, capsys):
    recipe = Recipe(held_out=16, epochs=2, batch=8, checkpoint_every=100, max_tokens=16)
    work = _tiny_work(tmp_path / "w")
    assert train(work, 2, recipe, "cpu", stop_at=5) is None
    saved = torch.load(work.checkpoint(2), weights_only=False)
    for field in ("label_weight", "label_temperature"):
        del saved["recipe"][field]
    torch.save(saved, work.checkpoint(2))
    capsys.readouterr()
    train(work, 2, recipe, "cpu")
    assert "resuming L2 at step 5/" in capsys.readouterr().err


def _as_named_student(weights: dict, kept: np.ndarray, layers: int, name: str, cache) -> None:
    """A student where `model distill --name` leaves one: the cache's distilled/NAME."""
    from stream_classifier_workbench.building.vocab_trim import vocabulary_fingerprint

    folder = cache / "distilled" / name
    folder.mkdir(parents=True)
    save_weights(folder / f"{name}.npz", weights, half=True)
    manifest = {
        "name": name,
        "shape": {"layers": layers},
        "vocabulary": {"kept_ids_sha256": vocabulary_fingerprint(kept)},
        "files": {f"{name}.npz": "its sha-256"},
        "corpus": {"texts": 96, "sha256": "its corpus"},
    }
    (folder / f"{name}.json").write_text(json.dumps(manifest))


def _with_image_fields(work: Work) -> None:
    """What `package` reads that the tiny teacher lacks: its word embeddings as Q4 blocks, the image's name."""
    from stream_classifier_workbench.building.compact_weights import Q4

    teacher = load_weights(work.teacher)
    vocab, hidden = teacher["embeddings.word_embeddings.weight"].shape
    blocks = np.random.default_rng(0).integers(0, 255, (vocab * hidden // 32, 18), dtype=np.uint8)
    teacher["embeddings.word_embeddings.weight"] = Q4(blocks, (vocab, hidden))
    save_weights(work.teacher, teacher)
    shape = json.loads(work.shape.read_text())
    work.shape.write_text(json.dumps({**shape, "teacher_image": "tiny.bin", "teacher_image_sha256": "0" * 64}))


def test_a_student_started_from_another_starts_from_its_weights_and_must_fit_it(tmp_path, monkeypatch):
    import pytest

    from stream_classifier_workbench.training.operator_texts import DistillInputError

    monkeypatch.setenv("SC_MODEL_CACHE", str(tmp_path / "cache"))
    first = _tiny_work(tmp_path / "first")
    np.save(first.kept, np.arange(45))
    train(first, 2, Recipe(held_out=16, epochs=2, batch=8, checkpoint_every=100, max_tokens=16), "cpu")
    source = {k: v + 0.5 for k, v in load_weights(first.trained(2)).items()}  # far from the teacher's layers
    _as_named_student(source, np.load(first.kept), 2, "tiny-first", tmp_path / "cache")

    second = Work(tmp_path / "second")
    shutil.copytree(first.root, second.root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*-L2.*"))
    still = Recipe(
        held_out=16, epochs=1, batch=8, checkpoint_every=100, max_tokens=16, lr=1e-12, start_from="tiny-first"
    )
    train(second, 2, still, "cpu")
    started = load_weights(second.trained(2))
    assert started.keys() == source.keys()
    for key in source:
        np.testing.assert_allclose(started[key], source[key], atol=2e-3, err_msg=key)
    assert json.loads((second.root / "trained-L2.json").read_text())["recipe"]["start_from"] == "tiny-first"
    _with_image_fields(second)
    package(second, 2, tmp_path / "out", "tiny-second")
    manifest = json.loads((tmp_path / "out" / "tiny-second.json").read_text())
    assert manifest["started_from"] == {
        "name": "tiny-first",
        "files": {"tiny-first.npz": "its sha-256"},
        "corpus": {"texts": 96, "sha256": "its corpus"},
    }

    with pytest.raises(DistillInputError, match="tiny-first has 2 layers, not the 3 of --layers"):
        train(second, 3, still, "cpu")
    with pytest.raises(DistillInputError, match="absent: no student weights in"):
        train(second, 2, Recipe(held_out=16, epochs=1, batch=8, max_tokens=16, start_from="absent"), "cpu")
    np.save(second.kept, np.arange(1, 46))
    with pytest.raises(DistillInputError, match="made on another vocabulary"):
        train(second, 2, still, "cpu")
