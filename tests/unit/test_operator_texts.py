"""`model distill --texts`: the three file formats, the language filter, and a one-line error for
every input that cannot make a student; a distilled student is taken by its name."""

import json

import pytest

from stream_classifier.model.catalog import STUDENT, UnknownModel, check_name, is_model_name
from stream_classifier.model.location import resolve_model_dir
from stream_classifier_workbench.training.operator_texts import (
    DistillInputError,
    OperatorTexts,
    enough,
    from_file,
    supported,
)

TEXTS = ["物流很快，包装完好", "客服态度太差了", "The battery died after two days", "质量不错 good value"]


def test_text_lines_json_lines_and_csv_give_the_same_texts(tmp_path):
    lines = tmp_path / "posts.txt"
    lines.write_text("\n".join(TEXTS + ["", TEXTS[0]]) + "\n", encoding="utf-8")
    jsonl = tmp_path / "posts.jsonl"
    jsonl.write_text("\n".join(json.dumps({"text": t, "id": i}, ensure_ascii=False) for i, t in enumerate(TEXTS)))
    csv_file = tmp_path / "posts.csv"
    csv_file.write_text("id,text\n" + "\n".join(f'{i},"{t}"' for i, t in enumerate(TEXTS)), encoding="utf-8")
    for path in (lines, jsonl, csv_file):
        assert from_file(path).texts == TEXTS, path
    read = from_file(lines)
    assert read.skipped == {"empty": 1, "repeated": 1} and read.read == 6
    assert read.origin.startswith("file posts.txt (sha256 ")


def test_only_chinese_and_english_texts_are_kept():
    assert supported("今天天气很好") and supported("great service!") and supported("iPhone 15 太贵了")
    assert not supported("Привет, как дела") and not supported("12345 !!!") and not supported("مرحبا")


@pytest.mark.parametrize(
    "name, content, says",
    [
        ("empty.txt", "\n \n", "the file is empty"),
        ("nothing.csv", "id,body\n1,hello\n", "a CSV file needs a 'text' column (found: id, body)"),
        ("broken.jsonl", '{"text": "ok"}\n{"text": \n', "broken.jsonl:2: not a JSON line"),
        ("wrong.jsonl", '{"text": 3}\n', 'a JSON line needs a string field "text"'),
        ("russian.txt", "Привет, как дела\nЭто тест\n", "none of its 2 texts is in Chinese or English"),
    ],
)
def test_bad_files_are_one_line_errors_naming_the_problem(tmp_path, name, content, says):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DistillInputError) as error:
        from_file(path)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_a_missing_or_binary_file_is_named(tmp_path):
    with pytest.raises(DistillInputError, match="no such file"):
        from_file(tmp_path / "absent.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00text")
    with pytest.raises(DistillInputError, match="not UTF-8"):
        from_file(binary)


def test_too_few_texts_say_how_many_and_what_was_left_out():
    few = OperatorTexts(["好"] * 3, "file x.txt", 10, {"repeated": 5, "not Chinese or English": 2})
    with pytest.raises(DistillInputError) as error:
        enough(few, minimum=1000)
    assert str(error.value) == (
        "file x.txt: 3 distinct Chinese or English texts, at least 1000 needed "
        "(left out: 2 not Chinese or English, 5 repeated)"
    )


def test_a_distilled_student_is_taken_by_its_name(tmp_path, monkeypatch):
    monkeypatch.setenv("SC_MODEL_CACHE", str(tmp_path))
    assert not is_model_name("reviews-l3")
    with pytest.raises(UnknownModel, match="a student made with `model distill --name`"):
        check_name("reviews-l3")
    (tmp_path / "reviews-l3").mkdir()
    (tmp_path / "reviews-l3" / "manifest.json").write_text("{}")
    assert check_name("reviews-l3") == "reviews-l3"
    assert resolve_model_dir("reviews-l3") == tmp_path / "reviews-l3"
    assert check_name(STUDENT) == STUDENT  # the catalog's names stay names, built or not
    for odd in ("../reviews-l3", "Reviews-L3", ""):
        assert not is_model_name(odd)
