"""The `stream-classifier dlq` subcommands: inspect and replay."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from confluent_kafka import KafkaException

from stream_classifier.command_tree import CommandTree
from stream_classifier.exit_codes import EXIT_CONFIG


def _settings(args: argparse.Namespace):
    from stream_classifier.settings import SettingsError, load_settings

    try:
        return load_settings(args.config)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def _emit(report: dict, text: str, args: argparse.Namespace) -> None:
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(report, indent=2, ensure_ascii=False) if args.json else text)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from stream_classifier.dlq import clients
    from stream_classifier.dlq.inspect import format_inspection, inspect_topic
    from stream_classifier.stream.topic_snapshot import TopicReadError

    settings = _settings(args)
    if settings is None:
        return EXIT_CONFIG
    consumer = clients.reader(settings)
    try:
        report = inspect_topic(consumer, args.topic or settings.topics.dead_letter, args.sample)
    except (TopicReadError, KafkaException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        consumer.close()
    _emit(report, format_inspection(report), args)
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from stream_classifier.dlq import clients
    from stream_classifier.dlq.replay import ReplayError, format_replay, replay
    from stream_classifier.stream.topic_snapshot import TopicReadError

    settings = _settings(args)
    if settings is None:
        return EXIT_CONFIG
    reasons = [r.strip() for value in args.reason for r in value.split(",") if r.strip()]
    producer = None if args.dry_run else clients.writer(settings)
    try:
        report = replay(
            args.topic or settings.topics.dead_letter,
            args.to or settings.topics.input,
            reasons,
            args.cursor_group or f"{settings.kafka.group_id}.dlq-replay",
            lambda group: clients.reader(settings, group),
            producer,
            max_replays=args.max_replays,
            from_beginning=args.from_beginning,
            dry_run=args.dry_run,
        )
    except (ReplayError, TopicReadError, KafkaException) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    _emit(report.as_dict(), format_replay(report), args)
    return 0


def register(tree: CommandTree) -> None:
    tree.group("dlq", "dead letters: inspect, replay after a fix")
    tree.add("dlq inspect", "counts by reason and a sample of each, from the dead-letter topic", _inspect_arguments)
    tree.add(
        "dlq replay",
        "selected dead letters back into the input topic (key and bytes unchanged, sc.replay.* headers)",
        _replay_arguments,
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="settings YAML (SC_* environment variables override it)")
    p.add_argument("--topic", help="dead-letter topic (default: topics.dead_letter)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--out", help="also write the JSON report to this file")


def _inspect_arguments(ins: argparse.ArgumentParser) -> None:
    _common(ins)
    ins.add_argument("--sample", type=int, default=3, help="dead letters shown per reason")
    ins.set_defaults(func=_cmd_inspect)


def _replay_arguments(rep: argparse.ArgumentParser) -> None:
    _common(rep)
    rep.add_argument(
        "--reason",
        action="append",
        required=True,
        help="reason to replay (sc.reason; repeat or comma-separate for several)",
    )
    rep.add_argument("--to", help="topic to replay into (default: topics.input)")
    rep.add_argument(
        "--max-replays",
        type=int,
        default=1,
        help="skip dead letters already replayed this many times (default 1: a replay "
        "that fails again is not replayed again)",
    )
    rep.add_argument(
        "--from-beginning",
        action="store_true",
        help="ignore the per-reason cursor and replay every matching dead letter again",
    )
    rep.add_argument(
        "--cursor-group",
        help="consumer-group prefix holding the per-reason cursors (default: <kafka.group_id>.dlq-replay)",
    )
    rep.add_argument("--dry-run", action="store_true", help="count what would be replayed; write nothing")
    rep.set_defaults(func=_cmd_replay)
