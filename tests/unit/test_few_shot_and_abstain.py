"""Pure logic: the examples' mixing weight, and the abstain rule."""

import numpy as np

from stream_classifier.labels import parse_label_set
from stream_classifier.model import few_shot
from stream_classifier.model.engines import Classification, abstentions

AXES = np.eye(4)


def test_examples_the_descriptions_already_get_right_keep_weight_zero():
    descriptions = AXES[:2]
    examples = np.array([[1.0, 0.1, 0.3, 0], [0.9, 0, 0, 0.4], [0.1, 1.0, 0, 0.2], [0, 0.8, 0.5, 0]])
    owners = np.array([0, 0, 1, 1])
    vectors, weight = few_shot.label_vectors(descriptions, examples, owners)
    assert weight == 0.0
    np.testing.assert_allclose(vectors, descriptions)


def test_examples_the_descriptions_get_wrong_earn_a_weight():
    descriptions = AXES[:2]  # label 0 described along axis 0, but its texts live along axis 2
    examples = np.array(
        [
            [0.3, 0.4, 1.0, 0],
            [0.2, 0.5, 0.9, 0.1],
            [0.1, 0.3, 1.0, 0.2],
            [0, 1.0, 0, 0],
            [0.1, 0.9, 0, 0.2],
            [0, 1.0, 0.1, 0],
        ]
    )
    owners = np.array([0, 0, 0, 1, 1, 1])
    vectors, weight = few_shot.label_vectors(descriptions, examples, owners)
    assert weight > 0
    text = np.array([0.2, 0.5, 1.0, 0.0])
    assert np.argmax(descriptions @ text) == 1 and np.argmax(vectors @ text) == 0


def test_the_weight_is_deterministic_and_ties_pick_the_smallest():
    descriptions = AXES[:2]
    examples = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])
    owners = np.array([0, 1])
    assert [few_shot.mixing_weight(descriptions, examples, owners) for _ in range(3)] == [0.0] * 3


def test_description_vectors_average_unit_vectors():
    vectors = np.array([[2.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 0, 5.0]])
    out = few_shot.description_vectors(vectors, np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(out, [[2**-0.5, 2**-0.5, 0, 0], [0, 0, 0, 1.0]])


def _label_set(rule):
    return parse_label_set({"name": "s", "abstain": rule, "labels": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})


def test_abstain_on_low_score_or_small_margin():
    scores = np.array([[0.9, 0.05, 0.05], [0.45, 0.40, 0.15], [0.34, 0.33, 0.33]], dtype=np.float32)
    assert abstentions(scores, _label_set({"min_score": 0.5})).tolist() == [False, True, True]
    assert abstentions(scores, _label_set({"min_margin": 0.1})).tolist() == [False, True, True]
    assert abstentions(scores, _label_set({"min_score": 0.4})).tolist() == [False, False, True]
    result = Classification(_label_set({"label": "other", "min_score": 0.5}), scores, "m", "v")
    assert [result.top(i)[0] for i in range(3)] == ["a", "other", "other"]
    assert result.as_dict(1)["label"] == "other" and result.as_dict(1)["score"] == 0.45


def test_no_rule_never_abstains():
    scores = np.array([[0.34, 0.33, 0.33]], dtype=np.float32)
    label_set = parse_label_set({"name": "s", "labels": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
    assert abstentions(scores, label_set).tolist() == [False]
