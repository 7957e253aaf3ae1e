"""`stream-classifier serve`: the HTTP API and the live page."""

from __future__ import annotations

import argparse

from stream_classifier.command_tree import CommandTree


def register(tree: CommandTree) -> None:
    tree.add("serve", "HTTP API batching across requests, label-set edits, the live web page", _arguments)


def _arguments(sv: argparse.ArgumentParser) -> None:
    sv.add_argument("--config", help="settings YAML (the serve: section; SC_SERVE__* variables override it)")
    sv.add_argument("--port", type=int, help="overrides serve.port (0: any free port)")
    sv.set_defaults(func=_serve)


def _serve(args: argparse.Namespace) -> int:
    from stream_classifier.serve.server import serve

    return serve(args.config, port=args.port)
