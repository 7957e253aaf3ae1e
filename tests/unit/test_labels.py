import pytest

from stream_classifier.labels import LabelSetError, load_label_set, parse_label_set

BASE = {"name": "s", "labels": [{"name": "positive", "description": "好评"}, {"name": "negative"}]}


def test_shipped_label_sets_are_valid():
    for name in ("opinion_zh", "sentiment"):
        label_set = load_label_set(f"configs/labels/{name}.yaml")
        assert len(label_set.labels) >= 2
        assert label_set.version.startswith(label_set.name + "@")


def test_version_follows_content():
    a = parse_label_set(BASE)
    assert parse_label_set(dict(BASE)).version == a.version
    changed = {**BASE, "labels": [*BASE["labels"], {"name": "neutral"}]}
    assert parse_label_set(changed).version != a.version
    assert parse_label_set({**BASE, "temperature": 0.05}).version != a.version


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "s", "labels": [{"name": "a"}, {"name": "a"}]}, "unique"),
        ({"name": "s", "labels": [{"name": "a"}, {"name": "  "}]}, "labels.1.name"),
        ({"name": "s", "labels": [{"name": "a"}]}, "at least 2 labels"),
        ({**BASE, "template": "no placeholder"}, "template"),
        ({**BASE, "temperature": 0}, "temperature"),
        ({**BASE, "labels": [{"name": "a", "threshold": 2}, {"name": "b"}]}, "labels.0.threshold"),
        ({**BASE, "labels": [{"name": "a", "colour": "red"}, {"name": "b"}]}, "labels.0.colour"),
        ({"labels": BASE["labels"]}, "name"),
        (["not", "a", "mapping"], "mapping"),
        ({**BASE, "labels": [{"name": "a", "description": []}, {"name": "b"}]}, "labels.0.description"),
        ({**BASE, "labels": [{"name": "a", "description": ["x", " "]}, {"name": "b"}]}, "labels.0.description"),
        ({**BASE, "abstain": {"label": "other"}}, "abstain"),
        ({**BASE, "abstain": {"min_margin": 2}}, "abstain.min_margin"),
        ({**BASE, "abstain": {"label": "negative", "min_score": 0.5}}, "abstain.label"),
        ({"name": "m", "multi_label": True, "labels": [{"name": "a"}], "abstain": {"min_score": 0.5}}, "abstain"),
    ],
)
def test_invalid_label_sets_name_the_field(data, field):
    with pytest.raises(LabelSetError, match=field.replace(".", r"\.")):
        parse_label_set(data, "test.yaml")


def test_multi_label_allows_one_label_and_uses_thresholds():
    label_set = parse_label_set(
        {
            "name": "m",
            "multi_label": True,
            "default_threshold": 0.4,
            "labels": [{"name": "refund", "threshold": 0.7}, {"name": "delay"}],
        }
    )
    assert label_set.thresholds() == [0.7, 0.4]
    assert parse_label_set({"name": "m", "multi_label": True, "labels": [{"name": "x"}]})


def test_hypotheses_use_template_or_override():
    label_set = parse_label_set(
        {
            **BASE,
            "template": "这是{label}评论。",
            "labels": [{"name": "好", "hypothesis": "这条评论是正面的。"}, {"name": "差"}],
        }
    )
    assert label_set.hypotheses() == ["这条评论是正面的。", "这是差评论。"]


def test_unreadable_or_invalid_yaml(tmp_path):
    with pytest.raises(LabelSetError, match="cannot read"):
        load_label_set(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(LabelSetError, match="invalid YAML"):
        load_label_set(bad)


def test_one_description_or_several():
    one = parse_label_set(BASE)
    several = parse_label_set(
        {**BASE, "labels": [{"name": "positive", "description": ["好评", "满意"]}, {"name": "negative"}]}
    )
    assert one.labels[0].descriptions == ["好评"]
    assert several.labels[0].descriptions == ["好评", "满意"]
    assert several.labels[1].descriptions == ["negative"]  # the name stands in for a description
    assert several.version != one.version


@pytest.mark.parametrize("template", ["{label} {label:>1000000000}", "{label!r}", "{label}{x}", "{label}{}"])
def test_a_template_takes_only_plain_label_fields(template):
    # a format spec would let an inline label set in an unauthenticated request build gigabyte strings
    with pytest.raises(LabelSetError, match="template"):
        parse_label_set({"name": "a", "template": template, "labels": [{"name": "a"}, {"name": "b"}]})
