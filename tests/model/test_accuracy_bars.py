"""The promises of `model eval` on the real default model and 2,000 real reviews."""

from stream_classifier.labels import load_label_set
from stream_classifier_workbench.evaluation.model_eval import evaluate


def test_int8_is_faithful_accurate_and_small(default_model_dir):
    report = evaluate(
        default_model_dir,
        load_label_set("configs/labels/sentiment.yaml"),
        size=2000,
        batch_size=32,
        shots=(),
        check_batch_independence=False,
    )
    print(
        {k: report[k] for k in ("top1_agreement", "score_pearson", "size_ratio", "speedup")},
        {k: round(v["accuracy"], 4) for k, v in report["variants"].items()},
    )
    assert report["top1_agreement"] >= 0.99
    assert report["variants"]["int8"]["accuracy"] >= 0.78
    assert report["size_ratio"] <= 0.35
