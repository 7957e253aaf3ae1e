"""The process exit codes of `stream-classifier` (README.md, "Exit codes")."""

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2  # a setting is invalid; the message names the field
EXIT_GUARD = 3  # the dead-letter guard tripped
EXIT_KAFKA = 4  # unreachable or refused at start-up, authentication failed, fenced, last commit failed
EXIT_COMMIT_STALLED = 5  # the commit watchdog gave up; a restart replays from the committed offsets
