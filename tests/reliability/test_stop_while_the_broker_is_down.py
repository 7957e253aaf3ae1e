"""Fault 8: the consumer is asked to stop (SIGTERM) while its only broker is down. The stop must
end within its deadlines -- flushing, the last commit and leaving the group are each bounded by
delivery.flush_timeout_s -- rather than wait for a broker that may never come back, and a
successor started once the broker is back loses nothing: it replays from the committed offsets."""

import signal
import time

import pytest
from faults import Figures, numbered_inputs, output_high_watermark, wait_all_committed, wait_until
from stream_harness import produce

from stream_classifier.exit_codes import EXIT_KAFKA, EXIT_OK

pytestmark = pytest.mark.kafka

FLUSH_TIMEOUT_S = 10  # the rig's delivery.flush_timeout_s
# flush, the wait for an asynchronous commit's result, the last commit and closing the consumer:
# each at most the flush timeout, and start-up slack for the review store's writer
STOP_DEADLINE_S = 5 * FLUSH_TIMEOUT_S + 30


@pytest.mark.parametrize("mode", ["at_least_once", "exactly_once"])
def test_sigterm_while_the_broker_is_down_stops_within_its_deadlines_and_loses_nothing(
    own_broker, own_topics, rig_factory, mode
):
    total = 3000
    rig = rig_factory(own_broker.bootstrap, own_topics, partitions=3)
    figures = Figures("SIGTERM while the broker is down", mode)
    produce(rig.bootstrap, rig.input, numbered_inputs(total))
    settings = rig.settings(mode, session_timeout_ms=60000)
    proc = rig.start(settings)
    wait_until(lambda: output_high_watermark(rig.bootstrap, rig.output) >= total // 4, 120, "no progress")
    own_broker.stop_node(1)
    time.sleep(2)
    asked_at = time.monotonic()
    proc.signal(signal.SIGTERM)
    try:
        code = proc.proc.wait(STOP_DEADLINE_S)
    except Exception:
        stack = proc.stack_dump()
        proc.kill()
        raise AssertionError(f"still stopping {STOP_DEADLINE_S}s after SIGTERM:\n{stack}\n{proc.log_tail()}") from None
    stop_s = time.monotonic() - asked_at
    log = proc.log_path.read_text(errors="replace")
    assert '"msg": "stopped"' in log, proc.log_tail()
    # 0, or 4 with the reason: progress was left to commit and the last commit could not reach the
    # broker (at-least-once), or a transaction could not be begun again (exactly-once)
    says_why = "stopped without committing" in log or "fatal kafka error" in log
    assert code == EXIT_OK or (code == EXIT_KAFKA and says_why), (code, proc.log_tail())

    own_broker.start_node(1)
    successor = rig.start(settings)
    wait_all_committed(rig.bootstrap, rig.group, rig.input, 300, successor)
    assert successor.stop() == 0, successor.log_tail()

    figures.audit_run(rig.bootstrap, rig.input, rig.output, total)
    figures.report(stop_s=round(stop_s, 1), exit_code=code)
    figures.assert_delivered()
