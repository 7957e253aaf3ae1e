"""Fault 7: a broker with a SASL_SSL listener (SCRAM-SHA-512, a CA and certificate made here)."""

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from faults import Figures, numbered_inputs, wait_all_committed
from kafka_helpers import Topics, free_ports
from stream_harness import produce

from stream_classifier_workbench.devtools.kafka_broker import LocalKafka

pytestmark = pytest.mark.kafka

USER, PASSWORD, WRONG = "classifier", "s3cret-Scram-pw-7781", "wrong-pw-1234-xyz"
STORE_PASSWORD = "keystore-pw-5521"


def make_certificates(directory: Path) -> tuple[Path, Path]:
    """A CA, and a broker certificate for 127.0.0.1 signed by it: (ca.pem, broker.p12)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=stream-classifier test CA",
    )
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=127.0.0.1"
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl(
        "x509",
        "-req",
        "-in",
        "broker.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "broker.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    openssl(
        "pkcs12",
        "-export",
        "-in",
        "broker.pem",
        "-inkey",
        "broker.key",
        "-certfile",
        "ca.pem",
        "-out",
        "broker.p12",
        "-passout",
        f"pass:{STORE_PASSWORD}",
    )
    return directory / "ca.pem", directory / "broker.p12"


@pytest.fixture(scope="module")
def secured_broker():
    home = Path(tempfile.mkdtemp(prefix="sc-kafka-sasl-"))
    ca, keystore = make_certificates(home)
    plain, secured, controller = free_ports(3)
    overrides = {
        "listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secured},"
        f"CONTROLLER://127.0.0.1:{controller}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secured}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(keystore),
        "ssl.keystore.password": STORE_PASSWORD,
        "ssl.key.password": STORE_PASSWORD,
    }
    broker = LocalKafka.single(home=home, port=plain, controller_port=controller, overrides=overrides)
    broker.up(format_args=["--add-scram", f"SCRAM-SHA-512=[name={USER},password={PASSWORD}]"])
    try:
        yield broker, f"127.0.0.1:{secured}", ca
    finally:
        broker.down()
        shutil.rmtree(home, ignore_errors=True)


def secured_settings(rig, secured_bootstrap: str, ca: Path) -> dict:
    settings = rig.settings()
    settings["kafka"]["bootstrap_servers"] = secured_bootstrap
    settings["kafka"]["properties"] = {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "ssl.ca.location": str(ca),
    }
    return settings


def test_sasl_ssl_scram_with_credentials_from_the_environment(secured_broker, rig_factory):
    broker, secured_bootstrap, ca = secured_broker
    total = 1000
    topics = Topics(broker.bootstrap)  # the test's own admin and audit use the plaintext listener
    rig = rig_factory(broker.bootstrap, topics, partitions=3)
    figures = Figures("SASL_SSL SCRAM-SHA-512")
    produce(rig.bootstrap, rig.input, numbered_inputs(total))
    env = {"SC_KAFKA__SASL_USERNAME": USER, "SC_KAFKA__SASL_PASSWORD": PASSWORD}
    proc = rig.start(secured_settings(rig, secured_bootstrap, ca), env=env)
    wait_all_committed(rig.bootstrap, rig.group, rig.input, 180, proc)
    metrics_text = "\n".join(proc.metrics())
    assert proc.stop() == 0, proc.log_tail()
    log_text = proc.log_path.read_text(errors="replace")

    figures.audit_run(rig.bootstrap, rig.input, rig.output, total)
    figures.report(password_in_logs=PASSWORD in log_text, password_in_metrics=PASSWORD in metrics_text)
    figures.assert_delivered()
    assert secured_bootstrap in log_text and "SASL_SSL" in log_text, "it did connect through the secured listener"
    assert PASSWORD not in log_text and PASSWORD not in metrics_text


def test_wrong_password_ends_start_up_with_a_clear_error(secured_broker, rig_factory):
    broker, secured_bootstrap, ca = secured_broker
    rig = rig_factory(broker.bootstrap, Topics(broker.bootstrap), partitions=1)
    figures = Figures("SASL_SSL wrong password")
    settings = secured_settings(rig, secured_bootstrap, ca)
    settings["kafka"]["connect_timeout_s"] = 30
    env = {"SC_KAFKA__SASL_USERNAME": USER, "SC_KAFKA__SASL_PASSWORD": WRONG}
    started = time.monotonic()
    proc = rig.start(settings, env=env, ready=False)
    code = proc.wait(90)
    elapsed = time.monotonic() - started
    log_text = proc.log_path.read_text(errors="replace")
    figures.report(exit_code=code, seconds_to_exit=round(elapsed, 1), password_in_logs=WRONG in log_text)
    assert code == 4, log_text[-3000:]
    assert "start-up failed" in log_text and "Authentication failed" in log_text, log_text[-3000:]
    assert elapsed < 20, "authentication failures end start-up before kafka.connect_timeout_s"
    assert WRONG not in log_text
