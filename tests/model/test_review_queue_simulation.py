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
    assert "| sentiment-small (centroid) | queue |" in simulation.format_table(report)


def test_the_queue_asks_about_the_least_sure_candidate_first(default_model_dir, small_set, monkeypatch):
    engine = load_engine(default_model_dir, cache_entries=0)
    vectors = simulation._embed(engine, small_set)
    probabilities = np.sort(
        softmax(vectors.candidates @ vectors.descriptions.T / small_set.label_set.temperature, axis=1), axis=1
    )
    margins = probabilities[:, -1] - probabilities[:, -2]
    asked = []
    original = simulation._label_matrix

    def recording(v, examples, owners, mode, temperature):
        if examples:
            asked.append(examples[-1])
        return original(v, examples, owners, mode, temperature)

    monkeypatch.setattr(simulation, "_label_matrix", recording)
    simulation._curve(small_set, vectors, "queue", seed=1)
    assert len(asked) == min(simulation.CHECKPOINTS[-1], len(small_set.candidates))
    assert len(set(asked)) == len(asked)  # nobody is asked twice
    drawn = np.random.default_rng(1).permutation(len(small_set.candidates))[: simulation.CANDIDATES]
    assert margins[asked[0]] == pytest.approx(margins[drawn].min(), abs=1e-9)


def test_a_linear_set_is_simulated_as_the_engine_prepares_it(default_model_dir, small_set):
    """The simulation's linear head for some answers is the head the engine fits for the label set
    with those answers as examples, and without answers the curve starts at the zero-shot set."""
    engine = load_engine(default_model_dir, cache_entries=0)
    vectors = simulation._embed(engine, small_set)
    examples = list(range(0, 40, 2))
    owners = [small_set.label_set.names.index(small_set.candidate_gold[i]) for i in examples]
    simulated = simulation._label_matrix(vectors, examples, owners, "linear", small_set.label_set.temperature)
    answered: dict[str, list[str]] = {}
    for i in examples:
        answered.setdefault(small_set.candidate_gold[i], []).append(small_set.candidates[i])
    linear = small_set.label_set.model_copy(update={"few_shot": "linear"}).with_examples(answered)
    prepared = engine.prepare(linear).payload
    # the engine orders examples by label, the simulation by answer: the same points, another order
    np.testing.assert_allclose(simulated.scores(vectors.texts), prepared.scores(vectors.texts), rtol=1e-4, atol=1e-6)

    report = simulation.simulate(engine, [small_set], seeds=(1,), few_shot_mode="linear")
    row = report["sets"][0]
    centroid = simulation.simulate(engine, [small_set], seeds=(1,))["sets"][0]
    assert row["few_shot"] == "linear" and centroid["few_shot"] == "centroid"
    assert row["queue"][0] == centroid["queue"][0]
    assert row["queue"][1:] != centroid["queue"][1:]
