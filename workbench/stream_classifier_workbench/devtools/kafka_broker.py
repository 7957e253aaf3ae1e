"""A real Apache Kafka broker (KRaft) on 127.0.0.1, resolved from Maven Central.

Used by `make kafka-up`, the test fixtures and the demo. No docker, no download from
project websites: the broker jars come from Maven Central through `kafka-pom.xml`
(`mvn dependency:copy-dependencies`) into a cache keyed by the pom's content, so later
starts download nothing.

    python -m stream_classifier_workbench.devtools.kafka_broker up [--port 9092]
    python -m stream_classifier_workbench.devtools.kafka_broker down | clean | status
    python -m stream_classifier_workbench.devtools.kafka_broker cluster up | down | clean | status
    python -m stream_classifier_workbench.devtools.kafka_broker cluster stop N | kill N | start N

A single node is one combined broker+controller. The cluster mode runs three combined
nodes with their own ports and data directories (node ids 1..3), for replication faults.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from stream_classifier_workbench.checkout import REPO

POM = Path(__file__).with_name("kafka-pom.xml")
HOST = "127.0.0.1"
DEFAULT_PORT = 9092
CLUSTER_BASE_PORT = 19092
CLUSTER_SIZE = 3
DEFAULT_HEAP = os.environ.get("SC_KAFKA_HEAP", "512m")
READY_TIMEOUT_S = float(os.environ.get("SC_KAFKA_READY_TIMEOUT", "90"))


def repo_root() -> Path:
    return REPO


def default_home() -> Path:
    return Path(os.environ.get("SC_KAFKA_HOME", repo_root() / ".kafka"))


def jar_cache_root() -> Path:
    base = (
        os.environ.get("SC_KAFKA_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stream-classifier" / "kafka"
    )
    return Path(base)


class BrokerError(RuntimeError):
    pass


def resolve_jars(quiet: bool = False) -> Path:
    """Return the directory of broker jars, resolving them with Maven the first time."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:16]
    lib = jar_cache_root() / digest / "lib"
    marker = lib / ".complete"
    if marker.exists():
        return lib
    if shutil.which("mvn") is None:
        raise BrokerError("Maven (mvn) is required to resolve the Kafka broker jars; install it")
    work = lib.parent
    work.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(POM, work / "pom.xml")
    if lib.exists():
        shutil.rmtree(lib)
    if not quiet:
        print(f"resolving Apache Kafka jars from Maven Central into {lib} ...", file=sys.stderr)
    cmd = [
        "mvn",
        "-B",
        "-q",
        "-f",
        str(work / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={lib}",
        "-DincludeScope=runtime",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise BrokerError("mvn dependency:copy-dependencies failed:\n" + result.stdout[-4000:] + result.stderr[-4000:])
    marker.write_text(digest)
    return lib


def random_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


@dataclass
class Node:
    """One combined broker+controller process and its data directory."""

    node_id: int
    port: int
    controller_port: int
    data_dir: Path
    voters: str  # controller.quorum.voters
    overrides: dict[str, str] = field(default_factory=dict)
    heap: str = DEFAULT_HEAP

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "server.log"

    @property
    def out_file(self) -> Path:
        return self.data_dir / "logs" / "stdout.log"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    def properties(self, replication: int) -> dict[str, str]:
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.node_id),
            "listeners": f"PLAINTEXT://{HOST}:{self.port},CONTROLLER://{HOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.quorum.voters": self.voters,
            "log.dirs": str(self.data_dir / "data"),
            "num.partitions": "1",
            "default.replication.factor": str(replication),
            "offsets.topic.replication.factor": str(replication),
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": str(replication),
            "transaction.state.log.min.isr": str(min(2, replication)),
            "transaction.state.log.num.partitions": "10",
            "share.coordinator.state.topic.replication.factor": str(replication),
            "share.coordinator.state.topic.min.isr": str(min(2, replication)),
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            "log.segment.bytes": str(64 * 1024 * 1024),
            "num.network.threads": "2",
            "num.io.threads": "4",
        }
        props.update(self.overrides)
        return props

    def write_config(self, replication: int) -> None:
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        lines = [f"{k}={v}" for k, v in self.properties(replication).items()]
        self.config_file.write_text("\n".join(lines) + "\n")
        (self.data_dir / "log4j2.properties").write_text(
            "status = warn\n"
            "appender.file.type = File\n"
            "appender.file.name = FILE\n"
            f"appender.file.fileName = {self.log_file}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = INFO\n"
            "rootLogger.appenderRef.file.ref = FILE\n"
            "logger.request.name = kafka.request.logger\n"
            "logger.request.level = WARN\n"
        )

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        # Only a live java process that runs *this* config counts as ours.
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            return None
        return pid if str(self.config_file) in cmdline else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def java_command(self, lib: Path, main: str, *args: str) -> list[str]:
        java = os.environ.get("JAVA_HOME")
        java_bin = str(Path(java) / "bin" / "java") if java else "java"
        return [
            java_bin,
            "-Xms128m",
            f"-Xmx{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:InitiatingHeapOccupancyPercent=35",
            "-XX:+ExplicitGCInvokesConcurrent",
            "-XX:ActiveProcessorCount=2",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            "-cp",
            f"{lib}/*",
            main,
            *args,
        ]

    def format_storage(self, lib: Path, cluster_id: str, extra_args: list[str]) -> None:
        if (self.data_dir / "data" / "meta.properties").exists():
            return
        cmd = self.java_command(
            lib,
            "kafka.tools.StorageTool",
            "format",
            f"--cluster-id={cluster_id}",
            "-c",
            str(self.config_file),
            "--ignore-formatted",
            *extra_args,
        )
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BrokerError(
                f"formatting KRaft storage of node {self.node_id} failed:\n"
                + result.stdout[-3000:]
                + result.stderr[-3000:]
            )

    def start(self, lib: Path) -> int:
        if (pid := self.pid()) is not None:
            return pid
        cmd = self.java_command(lib, "kafka.Kafka", str(self.config_file))
        with open(self.out_file, "ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        self.pid_file.write_text(str(proc.pid))
        # until exec, /proc/<pid>/cmdline is still this Python process: wait for it, or a
        # readiness check in between would take the node for exited (and leak it)
        deadline = time.monotonic() + 10
        while self.pid() is None and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> bool:
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 40) -> str:
        chunks = []
        for path in (self.log_file, self.out_file):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                chunks.append(f"--- {path} (last {len(text)} lines) ---\n" + "\n".join(text))
        return "\n".join(chunks) or "(no broker log written)"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie child of ours still answers kill(0); reap it if it is ours.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        return waited == 0
    except ChildProcessError:
        stat = Path(f"/proc/{pid}/stat")
        try:
            return stat.read_text().split()[2] != "Z"
        except OSError:
            return False


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def wait_ready(
    bootstrap: str,
    timeout: float,
    expect_brokers: int = 1,
    nodes: list[Node] | None = None,
    client_config: dict | None = None,
) -> None:
    """Wait until the cluster answers a metadata request naming `expect_brokers` brokers."""
    from confluent_kafka.admin import AdminClient

    # log_level 0 silences the connection errors while the broker starts
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, **(client_config or {})})
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for node in nodes or []:
            if not node.is_running():
                raise BrokerError(f"broker node {node.node_id} exited during start-up\n" + node.log_tail())
        try:
            md = admin.list_topics(timeout=2)
            if len(md.brokers) >= expect_brokers and md.controller_id >= 0:
                return
        except Exception as exc:  # KafkaException while the broker is still starting
            last_error = exc
        time.sleep(0.2)
    tails = "\n".join(n.log_tail() for n in nodes or [])
    raise BrokerError(f"broker at {bootstrap} not ready after {timeout:.0f}s ({last_error})\n{tails}")


class LocalKafka:
    """One node or a 3-node cluster under a home directory."""

    def __init__(self, home: Path, nodes: list[Node]):
        self.home = home
        self.nodes = nodes

    @classmethod
    def single(
        cls,
        home: Path | None = None,
        port: int = DEFAULT_PORT,
        controller_port: int | None = None,
        overrides: dict[str, str] | None = None,
        heap: str = DEFAULT_HEAP,
    ) -> LocalKafka:
        home = Path(home or default_home()) / f"single-{port}"
        cport = controller_port or port + 1
        node = Node(1, port, cport, home, f"1@{HOST}:{cport}", dict(overrides or {}), heap)
        return cls(home, [node])

    @classmethod
    def cluster(
        cls,
        home: Path | None = None,
        base_port: int = CLUSTER_BASE_PORT,
        overrides: dict[str, str] | None = None,
        heap: str = "384m",
    ) -> LocalKafka:
        home = Path(home or default_home()) / f"cluster-{base_port}"
        ports = [(base_port + 2 * i, base_port + 2 * i + 1) for i in range(CLUSTER_SIZE)]
        voters = ",".join(f"{i + 1}@{HOST}:{c}" for i, (_, c) in enumerate(ports))
        nodes = [
            Node(i + 1, p, c, home / f"node-{i + 1}", voters, dict(overrides or {}), heap)
            for i, (p, c) in enumerate(ports)
        ]
        return cls(home, nodes)

    @property
    def bootstrap(self) -> str:
        return ",".join(n.bootstrap for n in self.nodes)

    @property
    def replication(self) -> int:
        return len(self.nodes)

    def node(self, node_id: int) -> Node:
        for n in self.nodes:
            if n.node_id == node_id:
                return n
        raise BrokerError(f"no node {node_id}; nodes are {[n.node_id for n in self.nodes]}")

    def cluster_id(self) -> str:
        path = self.home / "cluster.id"
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            path.write_text(random_cluster_id())
        return path.read_text().strip()

    def up(
        self, timeout: float = READY_TIMEOUT_S, format_args: list[str] | None = None, client_config: dict | None = None
    ) -> str:
        lib = resolve_jars()
        cluster_id = self.cluster_id()
        for node in self.nodes:
            node.write_config(self.replication)
            node.format_storage(lib, cluster_id, format_args or [])
        for node in self.nodes:
            node.start(lib)
        try:
            wait_ready(self.bootstrap, timeout, len(self.nodes), self.nodes, client_config)
        except BrokerError:
            self.down()
            raise
        return self.bootstrap

    def start_node(self, node_id: int, timeout: float = READY_TIMEOUT_S) -> None:
        node = self.node(node_id)
        node.write_config(self.replication)
        node.start(resolve_jars())
        wait_ready(node.bootstrap, timeout, 1, [node])

    def stop_node(self, node_id: int, kill: bool = False) -> bool:
        return self.node(node_id).stop(signal.SIGKILL if kill else signal.SIGTERM)

    def down(self) -> list[int]:
        stopped = []
        for node in self.nodes:
            if node.stop():
                stopped.append(node.node_id)
        return stopped

    def clean(self) -> None:
        self.down()
        shutil.rmtree(self.home, ignore_errors=True)

    def status(self) -> list[tuple[int, str, int | None]]:
        return [(n.node_id, n.bootstrap, n.pid()) for n in self.nodes]


def _parse_overrides(items: list[str]) -> dict[str, str]:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    return overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafka_broker", description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=None, help="data root (default .kafka/)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="broker property override (repeatable)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "clean", "status"):
        p = sub.add_parser(name, help=f"{name} the single broker")
        p.add_argument("--port", type=int, default=int(os.environ.get("SC_KAFKA_PORT", DEFAULT_PORT)))
    sub.add_parser("jars", help="resolve the broker jars and print their directory")
    cl = sub.add_parser("cluster", help="the 3-node cluster")
    cl.add_argument("action", choices=["up", "down", "clean", "status", "stop", "kill", "start"])
    cl.add_argument("node_id", type=int, nargs="?")
    cl.add_argument("--base-port", type=int, default=CLUSTER_BASE_PORT)
    args = parser.parse_args(argv)
    overrides = _parse_overrides(args.set)

    try:
        if args.command == "jars":
            print(resolve_jars())
            return 0
        if args.command == "cluster":
            kafka = LocalKafka.cluster(args.home, args.base_port, overrides)
            action = args.action
            if action in ("stop", "kill", "start"):
                if args.node_id is None:
                    parser.error(f"cluster {action} needs a node id (1..{CLUSTER_SIZE})")
                if action == "start":
                    kafka.start_node(args.node_id)
                    print(f"node {args.node_id} ready at {kafka.node(args.node_id).bootstrap}")
                else:
                    kafka.stop_node(args.node_id, kill=action == "kill")
                    print(f"node {args.node_id} stopped ({action})")
                return 0
        else:
            kafka = LocalKafka.single(args.home, args.port, overrides=overrides)
            action = args.command
        if action == "up":
            started = time.monotonic()
            bootstrap = kafka.up()
            took = time.monotonic() - started
            rss = sum(rss_bytes(p) for _, _, p in kafka.status() if p)
            print(f"ready in {took:.1f}s, broker RSS {rss / 2**20:.0f} MiB", file=sys.stderr)
            print(bootstrap)
        elif action == "down":
            stopped = kafka.down()
            print(f"stopped nodes {stopped}" if stopped else "nothing running")
        elif action == "clean":
            kafka.clean()
            print(f"removed {kafka.home}")
        elif action == "status":
            for node_id, bootstrap, pid in kafka.status():
                state = f"running (pid {pid}, RSS {rss_bytes(pid) / 2**20:.0f} MiB)" if pid else "stopped"
                print(f"node {node_id} {bootstrap}: {state}")
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
