"""The label-quality claims, on the real default model and the offline labeled sets.

Descriptions: averaging several phrasings of each label beats one, on the mean of the tuning sets.
Few-shot: 4 examples per label never lose to zero-shot, 16 never lose and help on the mean.
Calibration: the shipped temperature's log-loss is below the old one's on the mean.
"""

import numpy as np
import pytest

from stream_classifier.labels import DEFAULT_TEMPERATURE
from stream_classifier.model.engines import load_engine
from stream_classifier_workbench.datasets.labeled_sets import load_all
from stream_classifier_workbench.evaluation.label_quality import TODAY_TEMPERATURE, measure


@pytest.fixture(scope="module")
def report(default_model_dir):
    return measure(load_engine(default_model_dir, cache_entries=0), load_all())


def test_the_engine_labels_as_the_measured_rows(report):
    assert all(s["engine_agrees_with_rows"] >= 0.995 for s in report["sets"])


def test_several_descriptions_beat_one(report):
    mean = report["tuning_mean"]
    print({k: round(v, 4) for k, v in mean.items()})
    assert mean["descriptions"] >= mean["before"] + 0.02


def test_few_shot_never_loses_and_helps(report):
    for s in report["sets"]:
        zero = s["zero_shot"]["descriptions"]
        print(s["name"], zero, s["few_shot"])
        assert s["few_shot"]["4"]["leave-one-out weight"] >= zero - 0.002, s["name"]
        assert s["few_shot"]["16"]["leave-one-out weight"] >= zero - 0.002, s["name"]
    gains = [s["few_shot"]["16"]["leave-one-out weight"] - s["zero_shot"]["descriptions"] for s in report["sets"]]
    assert np.mean(gains) >= 0.03


def test_the_shipped_temperature_is_better_calibrated(report):
    def mean_of(metric, temperature):
        return np.mean([s["calibration"][str(temperature)][metric] for s in report["sets"]])

    assert mean_of("log_loss", DEFAULT_TEMPERATURE) < mean_of("log_loss", TODAY_TEMPERATURE)
    assert mean_of("ece", DEFAULT_TEMPERATURE) < mean_of("ece", TODAY_TEMPERATURE)
