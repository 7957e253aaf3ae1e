"""Generated label sets: any YAML text, any data, and valid sets broken in the ways operators break them.

Operators edit label-set files at will and PUT them over HTTP; the stream reloads them while it runs.
Whatever they write must come back as a LabelSet or as a LabelSetError whose problems name the field
at fault; any other exception kills a reload, the stream or a request. A set that is accepted must be
usable: its version, hypotheses and thresholds never raise.

The cases are the same on every run (derandomize: CI must not be flaky); HYPOTHESIS_EXPLORE=1
draws new ones each run, to look for bugs.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from stream_classifier.labels import LabelSet, LabelSetError, load_label_set, parse_label_set

EXPLORE = bool(os.environ.get("HYPOTHESIS_EXPLORE"))
TOP_LEVEL = ("", "(top level)")


def cases(n: int) -> settings:
    return settings(
        max_examples=n,
        derandomize=not EXPLORE,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def check_outcome(parse, data_keys: set[str]) -> LabelSet | LabelSetError:
    """A LabelSet, or a LabelSetError whose every problem names a field of the set, a key the
    document has, or the top level."""
    try:
        label_set = parse()
    except LabelSetError as error:
        event("refused")
        assert error.problems
        known = set(LabelSet.model_fields) | data_keys
        for field, message in error.problems:
            assert isinstance(message, str) and message
            assert field in TOP_LEVEL or any(field == k or field.startswith(f"{k}.") for k in known), field
        return error
    event("accepted")
    assert isinstance(label_set, LabelSet)
    check_usable(label_set)
    return label_set


def check_usable(label_set: LabelSet) -> None:
    names = label_set.names
    assert len(names) == len(set(names)) >= (1 if label_set.multi_label else 2)
    assert label_set.version.startswith(f"{label_set.name}@")
    assert len(label_set.hypotheses()) == len(names)
    assert all(0.0 <= t <= 1.0 for t in label_set.thresholds())
    again = parse_label_set(label_set.model_dump(mode="json"))
    assert again.version == label_set.version, "the version is a function of the content"


def keys_of(data: object) -> set[str]:
    return {str(k) for k in data} if isinstance(data, dict) else set()


# ------------------------------------------------------------------ any data
any_char = st.characters() | st.characters(categories=["Cs"])
texts = st.lists(any_char, max_size=12).map("".join)  # st.text(any_char) would all but drop the surrogates
scalars = st.none() | st.booleans() | st.integers() | st.floats() | texts | st.dates()
keys = st.sampled_from(["name", "labels", "description", "template", "abstain", "multi_label"]) | texts | st.integers()
any_data = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5), max_leaves=15
)


@cases(600)
@given(any_data)
def test_any_data_is_a_label_set_or_names_its_problems(data):
    check_outcome(lambda: parse_label_set(data), keys_of(data))


# ------------------------------------------------------------------ valid sets, broken
VALID = {
    "name": "sentiment",
    "description": "how a post feels",
    "multi_label": False,
    "template": "This text is {label}.",
    "temperature": 0.01,
    "default_threshold": 0.5,
    "labels": [
        {"name": "positive", "description": ["good", "happy"], "examples": ["great!"], "threshold": 0.4},
        {"name": "negative", "description": "bad", "hypothesis": "This text is sad."},
        {"name": "neutral"},
    ],
}
FIELDS = ["name", "description", "multi_label", "template", "temperature", "default_threshold", "abstain", "labels"]
LABEL_FIELDS = ["name", "description", "examples", "hypothesis", "threshold"]

templates = st.sampled_from(
    ["{label}", "{label}{0}", "{label} {label.upper}", "{label} {label.x}", "{label} {label[0]}", "{label} {label[a]}"]
    + ["{label} {label:{x}}", "{label:>5}", "{label!r}", "{label} {", "{label} }", "{{label}}", "{label}{label!z}"]
) | st.builds(lambda head, tail: head + "{label}" + tail, texts, texts)
numbers = st.integers(-2, 2) | st.floats() | st.just(10**400)
abstains = st.fixed_dictionaries(
    {},
    optional={"label": texts | st.sampled_from(["positive", "none of these", " "]), "min_score": numbers}
    | {"min_margin": numbers, "colour": texts},
)
mutation_values = any_data | templates | numbers | abstains | texts | st.sampled_from(["positive", " ", ""])


@st.composite
def broken_label_sets(draw) -> dict:
    """A valid set with a few of: a field of the wrong type or value, a key missing, a key extra,
    a label repeated or dropped, an abstain rule, the mode switched."""
    data = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        labels = data.get("labels")
        label_index = draw(st.integers(0, len(labels) - 1)) if isinstance(labels, list) and labels else None
        label = labels[label_index] if label_index is not None else None
        kind = draw(st.sampled_from(["set", "set_label", "delete", "extra", "repeat", "drop", "abstain", "mode"]))
        if kind == "set":
            data[draw(st.sampled_from(FIELDS))] = draw(mutation_values)
        elif kind == "set_label" and isinstance(label, dict):
            label[draw(st.sampled_from(LABEL_FIELDS))] = draw(mutation_values)
        elif kind == "delete":
            data.pop(draw(st.sampled_from(FIELDS)), None)
        elif kind == "extra":
            target = label if isinstance(label, dict) and draw(st.booleans()) else data
            target[draw(texts)] = draw(mutation_values)
        elif kind == "repeat" and label_index is not None:
            labels.append(copy.deepcopy(labels[label_index]))
        elif kind == "drop" and label_index is not None:
            del labels[label_index]
        elif kind == "abstain":
            data["abstain"] = draw(abstains)
        elif kind == "mode":
            data["multi_label"] = not data.get("multi_label")
    return data


@cases(1000)
@given(broken_label_sets())
def test_a_broken_label_set_names_the_field_at_fault(data):
    check_outcome(lambda: parse_label_set(data), keys_of(data))


# ------------------------------------------------------------------ files
yaml_tokens = st.sampled_from(
    ["name:", "labels:", "abstain:", "template:", "- ", "\n", "  ", " ", "[", "]", "{", "}", ",", ": ", "? "]
    + ["&a ", "*a"]
    + ["!!binary ", "!!int ", "!!float ", "!!timestamp ", "!!set ", "!!python/name:os.system ", "2020-13-45", "1e400"]
    + ["---\n", "...\n", "%YAML 1.1\n", "|\n", ">\n", "#", "'", '"', '"\\ud800"', "~", "yes", ".nan", "0x1f", "x", "é"]
)
yaml_texts = st.text() | st.lists(yaml_tokens, max_size=40).map("".join)
yaml_bytes = yaml_texts.map(str.encode) | st.binary(max_size=100)
# PyYAML recurses about 500 levels deep; a parse that deep takes a tenth of a second, so these are few
deep_nesting = st.integers(400, 600).map(lambda depth: ("[" * depth + "]" * depth).encode())
valid_file = (
    b"name: s\nlabels:\n  - name: a\n    description: [x, y]\n  - {name: b, threshold: 0.2}\n"
    b"abstain: {min_score: 0.3}\n"
)


@st.composite
def label_files(draw) -> bytes:
    """Any bytes, YAML-ish text, deep nesting, or a valid file with a few bytes overwritten."""
    kind = draw(st.sampled_from(["yaml"] * 5 + ["edited"] * 4 + ["nested"]))
    if kind == "yaml":
        return draw(yaml_bytes)
    if kind == "nested":
        return draw(deep_nesting)
    at = draw(st.integers(0, len(valid_file)))
    return valid_file[:at] + draw(yaml_bytes) + valid_file[at + draw(st.integers(0, 5)) :]


@pytest.fixture(scope="module")
def label_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("label-properties") / "labels.yaml"


def top_level_keys(content: bytes) -> set[str]:
    try:
        return keys_of(yaml.safe_load(content))
    except Exception:  # noqa: BLE001 - whatever the file holds, the loader's error is what is checked
        return set()


@cases(600)
@given(content=label_files())
def test_any_file_is_a_label_set_or_names_its_problems(label_file, content):
    label_file.write_bytes(content)
    check_outcome(lambda: load_label_set(label_file), top_level_keys(content))


# regressions: the minimal examples the properties above found

TWO_LABELS = [{"name": "a"}, {"name": "b"}]


def problem_fields(data: dict) -> list[str]:
    try:
        parse_label_set(data)
    except LabelSetError as error:
        return [field for field, _ in error.problems]
    raise AssertionError("accepted")


def test_a_template_whose_field_the_label_cannot_fill_is_refused():
    assert problem_fields({"name": "s", "labels": TWO_LABELS, "template": "{label} {label.x}"}) == ["template"]
    assert problem_fields({"name": "s", "labels": TWO_LABELS, "template": "{label} {label[a]}"}) == ["template"]


def test_a_lone_surrogate_is_refused_where_it_is():
    assert problem_fields({"name": "s\ud800", "labels": TWO_LABELS}) == ["name"]
    assert problem_fields({"name": "s", "labels": [{"name": "a", "examples": ["\udc00"]}, {"name": "b"}]}) == [
        "labels.0.examples.0"
    ]


def test_a_file_pyyaml_cannot_construct_is_invalid_yaml(tmp_path):
    path = tmp_path / "labels.yaml"
    for content in (b"!!int ", b"!!timestamp x", b"name: 2020-13-45", b"[" * 3000 + b"]" * 3000, b"\xff"):
        path.write_bytes(content)
        with pytest.raises(LabelSetError) as raised:
            load_label_set(path)
        assert [field for field, _ in raised.value.problems] == [""], content[:20]
