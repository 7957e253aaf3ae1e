"""Pure logic: a text that is one of a single-label set's examples is labeled as that example."""

import numpy as np

from stream_classifier.labels import parse_label_set
from stream_classifier.model.example_answers import apply_answers, example_answers


def _set(**extra):
    labels = [{"name": "a", "examples": ["x", "both"]}, {"name": "b", "examples": ["y", "both"]}, {"name": "c"}]
    return parse_label_set({"name": "s", "labels": labels, **extra})


def test_each_example_answers_for_its_own_text_and_a_text_given_to_two_labels_for_none():
    assert example_answers(_set()) == {"x": 0, "y": 1}
    assert example_answers(_set(multi_label=True)) == {}


def test_an_answered_text_gets_its_label_with_score_one_and_the_others_are_untouched():
    scores = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32)
    out = apply_answers(scores.copy(), ["y", "not an example", "x"], example_answers(_set()))
    np.testing.assert_array_equal(out, np.array([[0, 1, 0], scores[1], [1, 0, 0]], dtype=np.float32))


def test_a_set_without_examples_leaves_the_scores_as_they_are():
    scores = np.array([[0.2, 0.8]], dtype=np.float32)
    assert apply_answers(scores, ["x"], {}) is scores
