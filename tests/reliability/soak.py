"""Repeat the fault-injection suite for as long as asked; print the figures of every round and a total.

    make soak DURATION=2h            (or: python tests/reliability/soak.py --duration 45m -k kill_9)
    python tests/reliability/soak.py --rounds 20 -k broker_restart     (20 rounds, however long)

Each round runs `pytest tests/reliability` with a new SC_FAULT_SEED (new kill moments, new bad
inputs). Exits non-zero when any round failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"duration {text!r}: use e.g. 900, 30m or 2h")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def table(rows: list[dict]) -> str:
    totals: dict[tuple[str, str], dict] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        t = totals[(row["test"], row["mode"])]
        t["runs"] += 1
        for key in ("messages_in", "outputs", "lost", "duplicates", "aborted_writes", "seconds"):
            t[key] += row.get(key, 0) or 0
    lines = [
        "| test | mode | runs | messages in | outputs | lost | duplicates | aborted writes | seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (test, mode), t in sorted(totals.items()):
        lines.append(
            f"| {test} | {mode} | {t['runs']:.0f} | {t['messages_in']:.0f} | {t['outputs']:.0f} | "
            f"{t['lost']:.0f} | {t['duplicates']:.0f} | {t['aborted_writes']:.0f} | {t['seconds']:.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=parse_duration, default=parse_duration("30m"))
    parser.add_argument("--rounds", type=int, help="run exactly this many rounds instead of for --duration")
    parser.add_argument("-k", dest="keyword", help="only the tests matching this pytest -k expression")
    parser.add_argument("--out", type=Path, default=REPO / "results" / "reliability")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    figures = args.out / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"
    started, round_no, failed_rounds = time.monotonic(), 0, 0

    def more() -> bool:
        if args.rounds is not None:
            return round_no < args.rounds
        return round_no == 0 or time.monotonic() - started < args.duration

    while more():
        round_no += 1
        seed = 1000 + round_no
        command = [
            sys.executable,
            "-m",
            "pytest",
            str(REPO / "tests" / "reliability"),
            "-q",
            "-p",
            "no:cacheprovider",
        ] + (["-k", args.keyword] if args.keyword else [])
        env = {**os.environ, "SC_FAULT_SEED": str(seed), "SC_RELIABILITY_FIGURES": str(figures)}
        log = args.out / f"soak-round-{round_no}.log"
        with log.open("wb") as out:
            code = subprocess.run(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
        failed_rounds += code != 0
        rows = [json.loads(line) for line in figures.read_text().splitlines()] if figures.exists() else []
        elapsed = time.monotonic() - started
        budget = f"{args.rounds} rounds" if args.rounds is not None else f"{args.duration / 60:.0f} min"
        print(
            f"\nround {round_no} (seed {seed}): {'passed' if code == 0 else f'FAILED (exit {code}), see {log}'}"
            f" — {elapsed / 60:.1f} min, of {budget}",
            flush=True,
        )
        print(table(rows), flush=True)
    print(f"\n{round_no} rounds, {failed_rounds} failed; figures in {figures}")
    return 1 if failed_rounds else 0


if __name__ == "__main__":
    sys.exit(main())
