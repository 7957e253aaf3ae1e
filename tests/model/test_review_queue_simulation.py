"""`labels simulate-queue` on real texts with the default model: the simulated operator's answers
become examples, the queue asks about the least sure candidates first, and no correction means the
zero-shot label set."""

from __future__ import annotations

import numpy as np
import pytest

from stream_classifier.labels import load_label_set
from stream_classifier.model.engines import load_engine
from stream_classifier.model.vectors import softmax
from stream_classifier_workbench.datasets.opinion_sets import sentiment_rows
from stream_classifier_workbench.evaluation import review_queue_simulation as simulation
from stream_classifier_workbench.evaluation.model_eval import macro_f1

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def small_set():
    design, test = sentiment_rows("design")[::8], sentiment_rows("test")[::8]
    return simulation.SimulationSet(
        "sentiment-small",
        load_label_set("configs/labels/sentiment.yaml"),
        [r.text for r in test],
        [r.label for r in test],
        [r.text for r in design],
        [r.label for r in design],
    )


def test_the_curves_start_at_the_zero_shot_score_and_cover_every_checkpoint(default_model_dir, small_set, tmp_path):
    engine = load_engine(default_model_dir, cache_entries=0)
    report = simulation.simulate(engine, [small_set], seeds=(1, 2))
    row = report["sets"][0]
    assert len(row["queue"]) == len(row["random"]) == len(simulation.CHECKPOINTS)
    result = engine.classify(small_set.texts, small_set.label_set)
    zero_shot = macro_f1(
        small_set.gold, [result.as_dict(i)["label"] for i in range(len(small_set.texts))], small_set.label_set.names
    )
    assert row["queue"][0] == pytest.approx(zero_shot, abs=0.01)
    assert row["random"][0] == row["queue"][0]
    json_path, plot_path = simulation.write(report, tmp_path)
    assert json_path.exists() and plot_path.stat().st_size > 10_000
    assert "| sentiment-small | queue |" in simulation.format_table(report)


def test_the_queue_asks_about_the_least_sure_candidate_first(default_model_dir, small_set, monkeypatch):
    engine = load_engine(default_model_dir, cache_entries=0)
    vectors = simulation._embed(engine, small_set)
    probabilities = np.sort(
        softmax(vectors.candidates @ vectors.descriptions.T / small_set.label_set.temperature, axis=1), axis=1
    )
    margins = probabilities[:, -1] - probabilities[:, -2]
    asked = []
    original = simulation._label_vectors

    def recording(v, examples, owners):
        asked.append(examples[-1])
        return original(v, examples, owners)

    monkeypatch.setattr(simulation, "_label_vectors", recording)
    simulation._curve(small_set, vectors, "queue", seed=1)
    assert len(asked) == min(simulation.CHECKPOINTS[-1], len(small_set.candidates))
    assert len(set(asked)) == len(asked)  # nobody is asked twice
    drawn = np.random.default_rng(1).permutation(len(small_set.candidates))[: simulation.CANDIDATES]
    assert margins[asked[0]] == pytest.approx(margins[drawn].min(), abs=1e-9)
