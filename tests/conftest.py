"""Session fixtures: the real Kafka broker, started once, and per-test topics.

Set SC_TEST_BOOTSTRAP=host:port to use a broker that is already running instead.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from kafka_helpers import Topics, free_ports  # noqa: E402

from stream_classifier_workbench.devtools.kafka_broker import LocalKafka  # noqa: E402


@pytest.fixture(scope="session")
def kafka_bootstrap():
    existing = os.environ.get("SC_TEST_BOOTSTRAP")
    if existing:
        yield existing
        return
    home = Path(tempfile.mkdtemp(prefix="sc-kafka-test-"))
    port, controller_port = free_ports(2)
    broker = LocalKafka.single(home=home, port=port, controller_port=controller_port)
    try:
        yield broker.up()
    finally:
        broker.down()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def topics(kafka_bootstrap):
    made = Topics(kafka_bootstrap)
    yield made
    made.delete_all()


@pytest.fixture(scope="session")
def default_model_dir():
    """The real default model, built offline from PyPI packages (cached between runs)."""
    from stream_classifier_workbench.building.build import build_default

    return build_default(quiet=True)


@pytest.fixture(scope="session")
def teacher_model_dir():
    """multilingual-e5-small with its full 250,002-piece vocabulary."""
    from stream_classifier.model.catalog import TEACHER
    from stream_classifier_workbench.building.build import build_named

    return build_named(TEACHER, quiet=True)


@pytest.fixture(scope="session")
def student_model_dir():
    """The distilled 3-layer student, built from the weights committed in model/weights."""
    from stream_classifier.model.catalog import STUDENT
    from stream_classifier_workbench.building.build import build_named

    return build_named(STUDENT, quiet=True)
