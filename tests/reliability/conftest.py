"""Fixtures of the fault-injection suite: a classifier rig on any broker, and brokers of its own
for the faults that would disturb the shared one (restarts, auto-creation off)."""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from faults import LABELS, OffsetProbe  # noqa: E402
from kafka_helpers import Topics, free_port_run, free_ports, new_topic  # noqa: E402
from stream_harness import REPO, ClassifierProcess, settings_for  # noqa: E402

from stream_classifier_workbench.devtools.kafka_broker import LocalKafka  # noqa: E402


class Rig:
    """Input, output and dead-letter topics on one broker, and the classifier processes run on them."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        workdir: Path,
        partitions: int = 3,
        replication: int = 1,
        topic_config: dict | None = None,
        create_output: bool = True,
        placement: list[int] | None = None,
    ):
        self.bootstrap = bootstrap
        self.topics = topics
        self.workdir = workdir
        self.partitions = partitions
        self.replication = len(placement) if placement else replication
        self.placement = placement
        self.topic_config = topic_config or {}
        self.input = topics.create("in", partitions, self.replication, self.topic_config, placement)
        self.dead_letter = topics.create("dlq", 1, self.replication, self.topic_config, placement)
        self.output = self.create_output() if create_output else f"{self.input}-labeled"
        self.group = f"{self.input}-group"
        self.processes: list[ClassifierProcess] = []

    def create_output(self) -> str:
        name = f"{self.input}-labeled"
        futures = self.topics.admin.create_topics(
            [new_topic(name, self.partitions, self.replication, self.topic_config, self.placement)],
            operation_timeout=30,
        )
        futures[name].result(timeout=60)
        self.topics.created.append(name)
        self.output = name
        return name

    def settings(
        self, mode: str = "at_least_once", instance: str | None = "c1", session_timeout_ms: int = 10000, **sections
    ) -> dict:
        """Static members by default (a restarted process takes over at once); the session timeout
        must outlast any broker outage the test causes, or the coordinator fences the member."""
        settings = settings_for(
            self.bootstrap, self.input, self.output, self.dead_letter, LABELS, group=self.group, **sections
        )
        settings["kafka"].update(session_timeout_ms=session_timeout_ms, group_instance_id=instance)
        settings["delivery"].update(mode=mode, flush_timeout_s=10)
        settings["model"] = {"threads": 1, **settings.get("model", {})}
        return settings

    def start(self, settings: dict, env: dict | None = None, ready: bool = True) -> ClassifierProcess:
        proc = ClassifierProcess(settings, self.workdir, env=env or {}).start()
        self.processes.append(proc)
        if ready:
            proc.wait_ready()
        return proc

    def close(self) -> None:
        for proc in self.processes:
            proc.kill()

    def diagnostics(self) -> str:
        """The group's committed offsets beside the end offsets, then each process's own view."""
        try:
            with OffsetProbe(self.bootstrap, self.group) as probe:
                ends = probe.end_offsets(self.input)
                offsets = f"end offsets {ends}\ncommitted  {probe.committed(self.input, len(ends))}"
        except Exception as exc:  # noqa: BLE001 - a broker fault may be what failed the test
            offsets = f"(offsets unavailable: {exc})"
        parts = [f"=== group {self.group} on {self.input}\n{offsets}"]
        parts += [proc.diagnostics() for proc in self.processes if proc.proc is not None]
        return "\n".join(parts)


@pytest.fixture
def rig_factory(topics, tmp_path):
    made: list[Rig] = []

    def make(bootstrap: str | None = None, topic_maker: Topics | None = None, **kwargs) -> Rig:
        rig = Rig(bootstrap or topics.bootstrap, topic_maker or topics, tmp_path, **kwargs)
        made.append(rig)
        return rig

    make.rigs = made  # read by pytest_runtest_makereport when a test fails
    yield make
    for rig in made:
        rig.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed fault test reports the consumer's metrics, log tail and stacks, and the group's
    committed offsets, taken before teardown kills the processes."""
    outcome = yield
    report = outcome.get_result()
    factory = getattr(item, "funcargs", {}).get("rig_factory")
    if report.when != "call" or not report.failed or factory is None:
        return
    text = "\n\n".join(rig.diagnostics() for rig in factory.rigs)
    report.sections.append(("classifier diagnostics", text))
    out = REPO / "results" / "reliability" / "failures"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{item.name}.txt").write_text(text)


@contextmanager
def local_cluster(overrides: dict[str, str] | None = None):
    """A 3-node cluster of the test's own; no controlled shutdown at the end (with a node gone
    or paused it would wait out its timeout)."""
    home = Path(tempfile.mkdtemp(prefix="sc-kafka-cluster-"))
    kafka = LocalKafka.cluster(home=home, base_port=free_port_run(6), overrides=overrides)
    kafka.up()
    try:
        yield kafka
    finally:
        for node in kafka.nodes:
            if (pid := node.pid()) is not None:
                os.kill(pid, signal.SIGCONT)
            node.stop(signal.SIGKILL)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def own_broker():
    """A single broker of the module's own, with topic auto-creation off, that tests may restart."""
    home = Path(tempfile.mkdtemp(prefix="sc-kafka-faults-"))
    port, controller_port = free_ports(2)
    broker = LocalKafka.single(
        home=home, port=port, controller_port=controller_port, overrides={"auto.create.topics.enable": "false"}
    )
    broker.up()
    try:
        yield broker
    finally:
        broker.down()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def own_topics(own_broker):
    made = Topics(own_broker.bootstrap)
    yield made
    made.delete_all()
