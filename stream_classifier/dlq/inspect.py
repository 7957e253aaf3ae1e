"""`stream-classifier dlq inspect`: what is in a dead-letter topic, by reason, with a sample."""

from __future__ import annotations

from collections import Counter, defaultdict

from stream_classifier.dlq.headers import DeadLetter
from stream_classifier.stream.topic_snapshot import read, snapshot

PREVIEW_CHARS = 120


def preview(value: bytes | None, chars: int = PREVIEW_CHARS) -> str | None:
    if value is None:
        return None
    text = value.decode("utf-8", "backslashreplace")
    return text if len(text) <= chars else text[:chars] + "…"


def sample_entry(dead: DeadLetter) -> dict:
    return {
        "dead_letter": dead.position,
        "key": preview(dead.key),
        "value": preview(dead.value),
        "error": dead.error,
        "replay_count": dead.replay_count,
        "source": None
        if dead.source_topic is None
        else f"{dead.source_topic}/{dead.source_partition}/{dead.source_offset}",
    }


def inspect_topic(consumer, topic: str, sample_per_reason: int = 3) -> dict:
    snap = snapshot(consumer, topic)
    by_reason: Counter[str] = Counter()
    replayed: dict[str, Counter[int]] = defaultdict(Counter)
    samples: dict[str, list[dict]] = defaultdict(list)
    sources: Counter[str] = Counter()
    for dead in map(DeadLetter.from_message, read(consumer, snap)):
        by_reason[dead.reason] += 1
        replayed[dead.reason][dead.replay_count] += 1
        sources[dead.source_topic or "?"] += 1
        if len(samples[dead.reason]) < sample_per_reason:
            samples[dead.reason].append(sample_entry(dead))
    return {
        "topic": topic,
        "total": sum(by_reason.values()),
        "by_reason": dict(by_reason.most_common()),
        # per reason, how many dead letters had been replayed 0, 1, 2, ... times before failing
        "by_replay_count": {
            reason: {str(n): c for n, c in sorted(counts.items())} for reason, counts in replayed.items()
        },
        "by_source_topic": dict(sources.most_common()),
        "end_offsets": {str(p): o for p, o in snap.ends.items()},
        "samples": dict(samples),
    }


def format_inspection(report: dict) -> str:
    lines = [f"{report['topic']}: {report['total']} dead letters (end offsets {report['end_offsets']})", ""]
    width = max([len("reason")] + [len(r) for r in report["by_reason"]])
    lines.append(f"{'reason':<{width}}  {'count':>7}  replayed before (times: count)")
    for reason, count in report["by_reason"].items():
        replays = ", ".join(f"{n}: {c}" for n, c in report["by_replay_count"][reason].items() if n != "0")
        lines.append(f"{reason:<{width}}  {count:>7}  {replays or '-'}")
    for reason, entries in report["samples"].items():
        lines.append("")
        lines.append(f"sample of {reason}:")
        for entry in entries:
            lines.append(
                f"  {entry['dead_letter']} key={entry['key']!r} from {entry['source']}"
                f"{' replayed ' + str(entry['replay_count']) + 'x' if entry['replay_count'] else ''}"
            )
            lines.append(f"    error: {entry['error']}")
            lines.append(f"    value: {entry['value']!r}")
    return "\n".join(lines)
