"""The figures an operator sees, printed by one command on the real default model: the share labeled,
per-label figures, and for rows that carry a review's polarity the review target."""

import json

from stream_classifier_workbench.evaluation.abstain_figures import main

LABELS = "configs/labels/opinion_zh.yaml"
ROWS = [
    {"text": "房间阴暗，有异味，总之非常失望。", "label": "complaint", "source": "review", "polarity": "negative"},
    {"text": "服务热情周到，早餐丰富，下次还来。", "label": "praise", "source": "review", "polarity": "positive"},
    {"text": "请问明天早上几点开始办理入住？", "label": "inquiry", "source": "edc"},
]


def test_the_review_target_is_printed_for_rows_with_a_polarity(default_model_dir, tmp_path, capsys):
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")

    assert main([LABELS, str(data)]) == 0

    out = capsys.readouterr().out
    assert "opinion-zh@" in out and "macro-F1 (abstained wrong)" in out
    assert "  complaint P " in out and "  other P " in out
    reviews = next(line for line in out.splitlines() if line.startswith("  reviews: "))
    assert "of 2);" in reviews  # the two reviews, not the inquiry


def test_rows_without_a_polarity_print_no_review_line(default_model_dir, tmp_path, capsys):
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps(ROWS[2], ensure_ascii=False) + "\n", encoding="utf-8")

    assert main([LABELS, str(data)]) == 0

    assert "reviews:" not in capsys.readouterr().out
