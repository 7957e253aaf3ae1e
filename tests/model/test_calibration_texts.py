"""The texts the INT8 weights are rounded on are unlabeled stream-like texts that no evaluation
sample contains (calibration is fitting: never on a text we report a figure for)."""

from stream_classifier_workbench.building.calibration import COUNT, calibration_texts, evaluation_texts
from stream_classifier_workbench.datasets.reviews import sentiment_corpus


def test_calibration_texts_are_corpus_texts_outside_every_evaluation_sample():
    texts = calibration_texts()
    assert len(texts) == COUNT == len(set(texts))
    assert set(texts) <= {item.text for item in sentiment_corpus()}
    evaluated = evaluation_texts()
    assert len(evaluated) > 2500  # model eval, labels sample-data and model quality samples overlap
    assert not set(texts) & evaluated
