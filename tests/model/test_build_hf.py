"""`model build --from-hf` on small random-weight checkpoints of each supported family, end to end."""

import numpy as np
import pytest
from tiny_checkpoints import make_checkpoint, torch_logits

from stream_classifier.labels import parse_label_set
from stream_classifier.model.engines import NliEngine, load_engine
from stream_classifier.model.manifest import Manifest
from stream_classifier.model.runtime import FP32_FILE
from stream_classifier.model.vectors import softmax
from stream_classifier_workbench.building.build import build_from_hf

TEXTS = [
    "快递三天都没到，客服也不回复",
    "这款手机拍照效果很好，推荐",
    "请问怎么申请退款？",
    "质量" * 200,
]  # the last one is truncated on the text side
LABELS = {
    "name": "t",
    "template": "这句话属于类别：{label}。",
    "labels": [{"name": "投诉"}, {"name": "咨询"}, {"name": "表扬"}],
}
# random weights give near-uniform logits; INT8 is compared to fp32 loosely, fp32 ONNX to torch tightly


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = {}

    def get(family: str, engine: str):
        if (family, engine) not in cache:
            root = tmp_path_factory.mktemp(f"{family}-{engine}")
            src = make_checkpoint(root / "checkpoint", family, engine)
            cache[(family, engine)] = (src, build_from_hf(src, engine, root / "built", quiet=True))
        return cache[(family, engine)]

    return get


@pytest.mark.parametrize("family", ["bert", "structbert", "xlmr", "deberta"])
def test_nli_checkpoint_builds_and_scores_like_the_hf_pipeline(built, family):
    src, out = built(family, "nli")
    manifest = Manifest.load(out)
    assert (manifest.engine, manifest.entailment_index, manifest.contradiction_index) == ("nli", 2, 0)
    assert manifest.quantization["matmul_int8"] > 0
    assert {p.name for p in out.iterdir()} >= {"model.onnx", "model.fp32.onnx", "tokenizer.json", "manifest.json"}

    label_set = parse_label_set(LABELS)
    reference = torch_logits(src, family, TEXTS, label_set.hypotheses())
    fp32 = load_engine(out, FP32_FILE, cache_entries=0)
    assert isinstance(fp32, NliEngine)
    # the engine's entailment scores are the HF zero-shot pipeline's, from the same logits
    expected_single = softmax(reference[:, :, 2], axis=1)
    assert np.allclose(fp32.classify(TEXTS, label_set).scores, expected_single, atol=1e-4)
    multi = parse_label_set({**LABELS, "multi_label": True})
    expected_multi = softmax(reference[:, :, [0, 2]], axis=2)[:, :, 1]
    assert np.allclose(fp32.classify(TEXTS, multi).scores, expected_multi, atol=1e-4)

    int8 = load_engine(out, cache_entries=0).classify(TEXTS, label_set).scores
    assert int8.shape == expected_single.shape
    assert np.abs(int8 - expected_single).max() < 0.05


@pytest.mark.parametrize("family", ["bert", "xlmr"])
def test_embedding_checkpoint_builds(built, family):
    _, out = built(family, "embedding")
    manifest = Manifest.load(out)
    assert manifest.engine == "embedding" and manifest.output == "embeddings"
    engine = load_engine(out, cache_entries=0)
    vectors = engine.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    scores = engine.classify(TEXTS, parse_label_set(LABELS)).scores
    assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-5)


def test_rebuild_is_skipped_when_inputs_are_unchanged(built):
    src, out = built("bert", "nli")
    before = (out / "model.onnx").stat().st_mtime_ns
    assert build_from_hf(src, "nli", out, quiet=True) == out
    assert (out / "model.onnx").stat().st_mtime_ns == before


def test_checkpoint_without_entailment_label_is_refused(tmp_path):
    from stream_classifier_workbench.building.build import BuildError

    src = make_checkpoint(tmp_path / "ck", "bert", "embedding")  # no NLI labels in its config
    with pytest.raises(BuildError, match="entailment"):
        build_from_hf(src, "nli", tmp_path / "out", quiet=True)
