"""Fault hooks for the reliability suite, built once at start-up and handed to the loop.

SC_FAULT_KILL_IN_TRANSACTION=N: die by SIGKILL inside the N-th transaction, after its records
reached the broker and before its commit (exactly-once only).
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Mapping

from stream_classifier.observability import log

logger = logging.getLogger(__name__)

# called with the number of the transaction (from 1) and its producer, after the transaction's
# records were produced and before its offsets are sent
TransactionHook = Callable[[int, object], None]


def kill_in_transaction(n: int) -> TransactionHook:
    def hook(transaction: int, producer) -> None:
        if transaction == n:
            producer.flush(10)
            log(logger, logging.WARNING, "fault injection: SIGKILL inside a transaction", transaction=transaction)
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def transaction_hook_from_environment(env: Mapping[str, str] = os.environ) -> TransactionHook | None:
    n = int(env.get("SC_FAULT_KILL_IN_TRANSACTION", "0") or 0)
    return kill_in_transaction(n) if n > 0 else None
