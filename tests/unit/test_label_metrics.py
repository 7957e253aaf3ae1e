"""Label-set evaluation metrics, threshold and temperature suggestions, and labeled-data files."""

import numpy as np
import pytest

from stream_classifier_workbench.evaluation.label_metrics import (
    best_threshold,
    multi_label_report,
    nll,
    single_label_report,
    suggest_temperature,
)
from stream_classifier_workbench.evaluation.labeled_data import LabeledDataError, load_labeled
from stream_classifier_workbench.evaluation.model_eval import macro_f1


def test_single_label_report_by_hand():
    names = ["complaint", "inquiry", "praise"]
    gold = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 2, 2])
    report = single_label_report(names, gold, predicted)
    assert report["confusion"]["matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["per_label"]["complaint"] == {
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "f1": pytest.approx(0.8),
        "support": 3,
    }
    assert report["per_label"]["inquiry"]["precision"] == 0.5 and report["per_label"]["praise"]["recall"] == 1.0
    as_names = lambda idx: [names[i] for i in idx]  # noqa: E731
    assert report["macro_f1"] == pytest.approx(macro_f1(as_names(gold), as_names(predicted), names))


def test_macro_f1_leaves_out_labels_without_gold():
    report = single_label_report(["a", "b", "c"], np.array([0, 1]), np.array([0, 1]))
    assert report["macro_f1"] == 1.0 and report["per_label"]["c"]["support"] == 0


def test_multi_label_report_counts_per_label_and_exact_match():
    gold = np.array([[1, 0], [1, 1], [0, 1], [0, 0]], dtype=bool)
    predicted = np.array([[1, 0], [1, 0], [1, 1], [0, 0]], dtype=bool)
    report = multi_label_report(["a", "b"], gold, predicted)
    assert report["accuracy"] == 0.5
    assert report["confusion"]["per_label"]["a"] == {"tp": 2, "fp": 1, "fn": 0, "tn": 1}
    assert report["confusion"]["per_label"]["b"] == {"tp": 1, "fp": 0, "fn": 1, "tn": 2}


def test_best_threshold_separates_where_it_can_and_keeps_ties_together():
    scores = np.array([0.9, 0.8, 0.7, 0.4, 0.3, 0.2])
    threshold, f1 = best_threshold(scores, np.array([1, 1, 1, 0, 0, 0], dtype=bool))
    assert threshold == pytest.approx(0.55) and f1 == 1.0
    tied = np.array([0.5, 0.5, 0.5, 0.1])
    threshold, f1 = best_threshold(tied, np.array([1, 0, 0, 0], dtype=bool))
    assert threshold == pytest.approx(0.3) and f1 == pytest.approx(0.5)  # all three ties or none
    assert best_threshold(scores, np.zeros(6, dtype=bool)) == (None, 0.0)


def test_temperature_fit_recovers_the_temperature_the_labels_were_drawn_with():
    rng = np.random.default_rng(0)
    logits = rng.uniform(-1, 1, size=(4000, 4)) * 0.1  # cosine-like spreads
    true_t = 0.03
    p = np.exp(logits / true_t)
    p /= p.sum(axis=1, keepdims=True)
    gold = np.array([rng.choice(4, p=row) for row in p])
    fit = suggest_temperature(logits, gold, current=0.3)
    assert fit["suggested"] == pytest.approx(true_t, rel=0.15)
    assert fit["nll_suggested"] < fit["nll_current"] and fit["ece_suggested"] < fit["ece_current"]
    assert nll(logits, gold, fit["suggested"]) == pytest.approx(fit["nll_suggested"], rel=1e-3)


def test_labeled_files(tmp_path):
    jsonl = tmp_path / "data.jsonl"
    jsonl.write_text(
        '{"text": "快递太慢", "label": "complaint"}\n\n{"text": "好", "labels": ["praise", "other"]}\n',
        encoding="utf-8",
    )
    rows = load_labeled(jsonl)
    assert [r.labels for r in rows] == [("complaint",), ("praise", "other")]
    csv = tmp_path / "data.csv"
    csv.write_text('text,label\n"快递太慢, 客服不回",complaint\n好,praise|other\n', encoding="utf-8")
    assert [(r.text, r.labels) for r in load_labeled(csv)] == [
        ("快递太慢, 客服不回", ("complaint",)),
        ("好", ("praise", "other")),
    ]


@pytest.mark.parametrize(
    "content,suffix,message",
    [
        ('{"text": "a", "label": "x"}\n{"text": "", "label": "x"}\n', ".jsonl", "line 2: the text is missing"),
        ('{"text": "a"}\n', ".jsonl", "line 1: no gold label"),
        ('{"text": "a", "label": 3}\n', ".jsonl", "a string or a list of strings"),
        ("not json\n", ".jsonl", "line 1: not JSON"),
        ("body,label\na,x\n", ".csv", "no column 'text'"),
        ("text,label\n", ".csv", "no labeled rows"),
        ("a", ".txt", "expected .jsonl or .csv"),
    ],
)
def test_labeled_file_errors_name_the_line(tmp_path, content, suffix, message):
    path = tmp_path / f"data{suffix}"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LabeledDataError, match=message):
        load_labeled(path)
