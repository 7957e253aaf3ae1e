"""Why the loop stops before it is asked to; each maps to one exit code (exit_codes.py)."""


class StartupError(RuntimeError):
    """The cluster cannot be reached or refuses us (exit 4)."""


class GuardTripped(RuntimeError):
    """The dead-letter share over the guard's window is too high (exit 3)."""


class CommitStalled(RuntimeError):
    """The commit watchdog found committable offsets left uncommitted too long (exit 5)."""
