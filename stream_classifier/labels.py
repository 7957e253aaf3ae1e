"""Label sets: YAML files that operators edit at will; validated and versioned by content."""

from __future__ import annotations

import hashlib
import json
import string
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULT_LABEL_FILE = Path(__file__).resolve().parent / "label_sets" / "opinion_zh.yaml"
DEFAULT_TEMPLATE = "这句话属于类别：{label}。"
DEFAULT_TEMPERATURE = 0.01


class LabelSetError(ValueError):
    """A label set that cannot be used. `problems` holds (field, message) pairs, the field a dotted
    path inside the set ("labels.0.name"), "labels" for a check across labels, "" for the whole
    document; the exception's text joins them after `source` (a file, or the set's name)."""

    def __init__(self, source: str, problems: list[tuple[str, str]]):
        self.source = source
        self.problems = problems
        super().__init__(
            f"{source}: " + "; ".join(f"{field}: {message}" if field else message for field, message in problems)
        )


def _encodable(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"a lone surrogate at position {exc.start} is not text: UTF-8 cannot hold it") from None
    return value


Text = Annotated[str, AfterValidator(_encodable)]  # JSON's "\ud800" and YAML's can make a str that is not text


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text
    description: Text | list[Text] | None = None  # several descriptions are combined into one vector
    examples: list[Text] = Field(default_factory=list)
    hypothesis: Text | None = None  # NLI: overrides template.format(label=name)
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("name")
    @classmethod
    def _name_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("label name must not be empty")
        return value.strip()

    @field_validator("description")
    @classmethod
    def _descriptions_not_blank(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list):
            if not value:
                raise ValueError("a list of descriptions must not be empty")
            if any(not d.strip() for d in value):
                raise ValueError("descriptions must not be empty strings")
        return value

    @property
    def descriptions(self) -> list[str]:
        """What the label means, in one or several phrasings (the name when there is none)."""
        if not self.description:
            return [self.name]
        return [self.description] if isinstance(self.description, str) else list(self.description)

    @field_validator("examples")
    @classmethod
    def _examples_not_blank(cls, value: list[str]) -> list[str]:
        if any(not e.strip() for e in value):
            raise ValueError("examples must not be empty strings")
        return value


class Abstain(BaseModel):
    """ "None of these": a single-label text whose best label is too weak gets the fallback label."""

    model_config = ConfigDict(extra="forbid")

    label: Text = "none of these"
    min_score: float | None = Field(default=None, ge=0.0, le=1.0, description="top probability below this")
    min_margin: float | None = Field(default=None, ge=0.0, le=1.0, description="top minus second below this")

    @model_validator(mode="after")
    def _has_a_rule(self) -> Abstain:
        if self.min_score is None and self.min_margin is None:
            raise ValueError("abstain needs min_score, min_margin or both")
        if not self.label.strip():
            raise ValueError("abstain.label must not be empty")
        return self


class LabelSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text
    description: Text | None = None
    multi_label: bool = False
    template: Text = DEFAULT_TEMPLATE
    # the embedding engine's softmax temperature over cosines; 0.01 gave the lowest log-loss and
    # calibration error across the labeled sets (`stream-classifier model quality`)
    temperature: float = Field(default=DEFAULT_TEMPERATURE, gt=0.0)
    default_threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    abstain: Abstain | None = None
    # how examples shape the labels (embedding engine): "centroid" mixes each label's description
    # vector with its examples' mean (model/few_shot.py); "linear" fits a softmax regression on the
    # examples and descriptions, for labels that one vector each cannot separate
    few_shot: Literal["centroid", "linear"] = "centroid"
    labels: list[Label]

    @field_validator("template")
    @classmethod
    def _template_has_label(cls, value: str) -> str:
        if "{label}" not in value:
            raise ValueError("template must contain {label}")
        try:
            fields = list(string.Formatter().parse(value))
        except ValueError as exc:
            raise ValueError(f"template is not a valid format string: {exc}") from exc
        for _text, field, spec, conversion in fields:
            # only a plain {label}: "{label:>1000000000}" would make every request build a gigabyte string
            if field is not None and (field != "label" or spec or conversion):
                shown = field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
                raise ValueError(f"template fields must be a plain {{label}}, got {{{shown}}}")
        return value

    @model_validator(mode="after")
    def _check_labels(self) -> LabelSet:
        names = [label.name for label in self.labels]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"label names must be unique; repeated: {dupes}")
        minimum = 1 if self.multi_label else 2
        if len(self.labels) < minimum:
            mode = "multi-label" if self.multi_label else "single-label"
            raise ValueError(f"a {mode} label set needs at least {minimum} labels, got {len(self.labels)}")
        if self.abstain is not None:
            if self.multi_label:
                raise ValueError("abstain applies to single-label sets (multi-label sets have thresholds)")
            if self.abstain.label in names:
                raise ValueError(f"abstain.label {self.abstain.label!r} is also a label's name")
        if self.few_shot == "linear":
            if self.multi_label:
                raise ValueError("few_shot: linear applies to single-label sets (multi-label ones use thresholds)")
            if not any(label.examples for label in self.labels):
                raise ValueError("few_shot: linear is fitted on examples, and no label has any")
        return self

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def version(self) -> str:
        """Content-addressed: the same labels give the same version, any edit a new one."""
        data = self.model_dump(mode="json")
        if data["few_shot"] == "centroid":
            del data["few_shot"]  # sets written before few_shot existed keep their versions
        canonical = json.dumps(data, sort_keys=True, ensure_ascii=False)
        return f"{self.name}@{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"

    def thresholds(self) -> list[float]:
        return [lbl.threshold if lbl.threshold is not None else self.default_threshold for lbl in self.labels]

    def hypotheses(self) -> list[str]:
        return [lbl.hypothesis or self.template.format(label=lbl.name) for lbl in self.labels]

    def with_examples(self, examples: dict[str, list[str]]) -> LabelSet:
        labels = [
            lbl.model_copy(update={"examples": [*lbl.examples, *examples.get(lbl.name, [])]}) for lbl in self.labels
        ]
        return self.model_copy(update={"labels": labels})


def parse_label_set(data: object, source: str = "<label set>") -> LabelSet:
    if not isinstance(data, dict):
        raise LabelSetError(source, [("", "a label set is a mapping with 'name' and 'labels'")])
    try:
        return LabelSet.model_validate(data)
    except ValidationError as exc:
        raise LabelSetError(
            source, [(".".join(str(p) for p in err["loc"]) or "(top level)", err["msg"]) for err in exc.errors()]
        ) from None


def load_label_set(path: str | Path) -> LabelSet:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabelSetError(str(path), [("", f"cannot read: {exc}")]) from None
    except UnicodeDecodeError as exc:
        raise LabelSetError(str(path), [("", f"not UTF-8: {exc}")]) from None
    try:
        data = yaml.safe_load(text)
    # besides YAMLError, PyYAML's constructors raise whatever a malformed tagged or implicit scalar makes them
    # hit ("!!int " IndexError, "!!timestamp x" AttributeError, 2020-13-45 ValueError), deep nesting RecursionError
    except Exception as exc:  # noqa: BLE001
        raise LabelSetError(str(path), [("", f"invalid YAML: {exc}")]) from None
    return parse_label_set(data, str(path))
