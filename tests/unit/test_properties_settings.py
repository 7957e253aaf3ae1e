"""Generated environment overrides (SC_<SECTION>__<FIELD>=...) and settings files for the start-up.

An operator's typo in an environment variable or the settings file must end the start-up with a
StartupError whose line names the field at fault (exit code 2), never with a traceback. The
variables are drawn from the settings' own fields (sections, leaves, fields that do not exist) with
any value a shell can set: text, numbers, JSON, broken JSON, deep nesting.

Each case sets os.environ inside the test (pytest's monkeypatch is per test, not per generated
case) and puts back the environment and the root logger that settings_from configures.

The cases are the same on every run (derandomize: CI must not be flaky); HYPOTHESIS_EXPLORE=1
draws new ones each run, to look for bugs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from stream_classifier.settings import Settings
from stream_classifier.startup import StartupError, settings_from

EXPLORE = bool(os.environ.get("HYPOTHESIS_EXPLORE"))
PREFIX, DELIMITER = Settings.model_config["env_prefix"], Settings.model_config["env_nested_delimiter"]
REPO = Path(__file__).resolve().parents[2]


def cases(n: int) -> settings:
    return settings(
        max_examples=n,
        derandomize=not EXPLORE,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def field_paths(model: type[BaseModel], parent: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every section and field of the settings, as paths: ("kafka",), ("kafka", "group_id"), ..."""
    paths = []
    for name, info in model.model_fields.items():
        path = (*parent, name)
        paths.append(path)
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            paths += field_paths(info.annotation, path)
    return paths


PATHS = field_paths(Settings)


@contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    """Only these SC_ variables set; the environment and the root logger as they were afterwards."""
    saved = dict(os.environ)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        for name in [n for n in os.environ if n.upper().startswith(PREFIX)]:
            del os.environ[name]
        os.environ.update(variables)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        root.handlers[:], root.level = handlers, level


@st.composite
def variable_names(draw) -> str:
    """SC_ and a settings path in any case: a known one, one with a field that does not exist
    appended, or one with an empty or odd segment."""
    path = list(draw(st.sampled_from(PATHS)))
    kind = draw(st.sampled_from(["known"] * 4 + ["unknown", "empty"]))
    if kind == "unknown":
        path.append(draw(st.from_regex(r"[a-z_][a-z0-9_.-]{0,8}", fullmatch=True)))
    elif kind == "empty":
        path.insert(draw(st.integers(0, len(path))), draw(st.sampled_from(["", "_", "-", " "])))
    name = PREFIX + DELIMITER.join(path)
    return draw(st.sampled_from([name.upper(), name.lower(), name]))


# what a shell can put in a variable: no NUL; bytes that are not UTF-8 arrive as U+DC80..U+DCFF
undecodable_bytes = st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF, categories=["Cs"])
env_chars = st.characters(exclude_characters="\x00", exclude_categories=["Cs"]) | undecodable_bytes
env_texts = st.lists(env_chars, max_size=20).map("".join)


def json_containers(inner: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10), json_containers, max_leaves=8
)
env_values = st.one_of(
    env_texts,
    st.integers().map(str),
    st.floats().map(repr),
    st.sampled_from(["", " ", "true", "false", "yes", "0", "1", "-1", "1e400", "nan", "inf", "null", "exactly_once"]),
    st.sampled_from(["{", "[", "{bad", '{"a": ', "[1,", '"x"', "{}", "[]", '{"max_size": [1]}']),
    json_values.map(json.dumps),
    st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
)


def check_names_a_field(error: StartupError, variables: dict[str, str]) -> None:
    """Defaults are valid, so whatever is wrong comes from a variable: the message names its section."""
    sections = {name[len(PREFIX) :].split(DELIMITER)[0].lower() for name in variables}
    message = str(error)
    assert any(section and section in message for section in sections), message


@cases(1200)
@given(st.dictionaries(variable_names(), env_values, min_size=1, max_size=4))
def test_any_environment_gives_settings_or_an_error_naming_the_field(variables):
    with environment(variables):
        try:
            loaded = settings_from(None)
        except StartupError as error:
            event("refused")
            check_names_a_field(error, variables)
        else:
            event("accepted")
            assert isinstance(loaded, Settings)


yaml_tokens = st.sampled_from(
    ["kafka:", "batch:", "delivery:", "max_size:", "mode:", "properties:", "- ", "\n", "  ", "[", "]", "{", "}"]
    + [",", ": ", "? ", "&a ", "*a", "!!int ", "!!timestamp ", "!!binary ", "!!set ", "2020-13-45", "1e400"]
    + ["---\n", "%YAML 1.1\n", "|\n", "#", "'", '"', "~", "yes", ".nan", "0x1f", "x", "exactly_once", "é"]
)
DEFAULT_CONFIG = (REPO / "configs" / "default.yaml").read_bytes()


@st.composite
def settings_files(draw) -> bytes:
    """YAML-ish text, any bytes, or the default settings file with a few bytes overwritten."""
    edit = st.lists(yaml_tokens, max_size=20).map(lambda t: "".join(t).encode()) | st.binary(max_size=20)
    kind = draw(st.sampled_from(["tokens", "binary", "edited", "edited"]))
    if kind == "tokens":
        return draw(st.lists(yaml_tokens, max_size=40).map(lambda t: "".join(t).encode()))
    if kind == "binary":
        return draw(st.binary(max_size=100))
    at = draw(st.integers(0, len(DEFAULT_CONFIG)))
    return DEFAULT_CONFIG[:at] + draw(edit) + DEFAULT_CONFIG[at + draw(st.integers(0, 10)) :]


@pytest.fixture(scope="module")
def settings_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("settings-properties") / "settings.yaml"


@cases(500)
@given(content=settings_files())
def test_any_settings_file_gives_settings_or_an_error_naming_it(settings_file, content):
    settings_file.write_bytes(content)
    with environment({}):
        try:
            loaded = settings_from(settings_file)
        except StartupError as error:
            event("refused")
            assert str(settings_file) in str(error)
        else:
            event("accepted")
            assert isinstance(loaded, Settings)


# regressions: the minimal examples the properties above found


def startup_error(config: Path | None, variables: dict[str, str]) -> str:
    with environment(variables), pytest.raises(StartupError) as raised:
        settings_from(config)
    return str(raised.value)


def test_a_section_variable_that_is_not_json_names_the_section():
    assert 'field "kafka"' in startup_error(None, {"SC_KAFKA": ""})


def test_json_nested_too_deeply_names_the_variable():
    assert "kafka.properties (SC_KAFKA__PROPERTIES): nested too deeply" in startup_error(
        None, {"SC_KAFKA__PROPERTIES": "[" * 5000 + "]" * 5000}
    )


def test_a_settings_file_pyyaml_cannot_read_or_construct_is_named(tmp_path):
    path = tmp_path / "settings.yaml"
    for content in (b"\x80", b"!!int ", b"batch: 2020-13-45", b"[" * 3000 + b"]" * 3000):
        path.write_bytes(content)
        assert str(path) in startup_error(path, {})


def test_a_top_level_key_that_is_no_name_is_an_unknown_field(tmp_path):
    path = tmp_path / "settings.yaml"
    path.write_bytes(b"1: x")
    assert "1: Extra inputs are not permitted" in startup_error(path, {})
