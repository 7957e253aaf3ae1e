"""`bench distill` on the real teacher and a tiny sweep: every point built into the INT8 engine and
scored against the teacher, the table, JSON and plot written, and a second run measures nothing again."""

import json

import pytest

from stream_classifier_workbench.bench.distill_sweep import format_table, run_distill_sweep

SETS = ["thucnews-headlines"]


def test_a_sweep_scores_each_point_against_the_teacher_and_resumes(default_model_dir, tmp_path):
    out, work = tmp_path / "results", tmp_path / "work"
    report = run_distill_sweep(out, work, "headlines", [1000], [1], 2, [1, 2], device="cpu", set_names=SETS)

    assert report["in_domain_sets"] == SETS
    teacher = report["teacher"]["scores"]["thucnews-headlines"]
    assert 0.6 < teacher < 0.8  # model quality's figure for the teacher: 0.681
    points = sorted(report["points"], key=lambda p: p["steps"])
    assert [(p["texts"], p["layers"], p["epochs"]) for p in points] == [(1000, 1, 1), (1000, 1, 2)]
    assert points[1]["steps"] == 2 * points[0]["steps"] > 0
    assert all(0.05 < p["scores"]["thucnews-headlines"] < teacher for p in points)
    assert report["corpora"]["1000"]["texts"] > 1000  # the domain's texts, general text, the label sets
    assert report["speed"]["texts_per_s"].keys() == {"teacher", "1"}
    assert (out / "bench-distill.png").stat().st_size > 0
    assert json.loads((out / "bench-distill.json").read_text())["points"] == report["points"]
    assert "| 1,000 |" in format_table(report)
    assert not list(work.glob("*/built/*")), "built students are removed once measured"

    again = run_distill_sweep(out, work, "headlines", [1000], [1], 2, [1, 2], device="cpu", set_names=SETS)
    assert again["points"] == report["points"]


def test_a_size_larger_than_the_domain_fails_before_the_teacher_is_scored(tmp_path):
    with pytest.raises(ValueError, match=r"--sizes: 10000000 is more than the \d+ texts of the english domain"):
        run_distill_sweep(tmp_path, tmp_path / "work", "english", [10_000_000], [3], 1, [1], device="cpu")
    assert not (tmp_path / "bench-distill.json").exists()


def test_a_sweep_at_another_learning_rate_needs_another_out(tmp_path):
    # a report written before --lr existed ran at the recipe's 2e-4
    before = {"domain": "headlines", "epochs": 1, "seed": 13, "sets": SETS}
    (tmp_path / "bench-distill.json").write_text(json.dumps({"settings": before, "points": []}))
    with pytest.raises(ValueError, match="holds a sweep with other settings"):
        run_distill_sweep(tmp_path, tmp_path / "work", "headlines", [1000], [3], 1, [1], lr=1e-3, set_names=SETS)
    with pytest.raises(ValueError, match="--sizes: 10000000 is more than"):  # past the settings check
        run_distill_sweep(tmp_path, tmp_path / "work", "headlines", [10_000_000], [3], 1, [1], set_names=SETS)
