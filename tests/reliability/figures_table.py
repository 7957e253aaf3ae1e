"""The fault-injection table of docs/reliability.md from a figures file (one JSON line per test run):

python tests/reliability/figures_table.py results/reliability/figures.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = ("messages_in", "outputs", "lost", "duplicates", "aborted_writes", "seconds")
NOT_EXTRA = {"test", "mode", "seed", "at", *COLUMNS}
MODES = {"at_least_once": "ALO", "exactly_once": "EOS"}


def cell(value) -> str:
    return "" if value is None else str(value)


def table(rows: list[dict]) -> str:
    lines = [
        "| fault | mode | in | outputs | lost | duplicates | aborted writes | s | also |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        extra = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in row.items() if key not in NOT_EXTRA)
        lines.append(
            f"| {row['test']} | {MODES.get(row['mode'], row['mode'])} | "
            + " | ".join(cell(row.get(c)) for c in COLUMNS)
            + f" | {extra} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(table([json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines() if line.strip()]))
