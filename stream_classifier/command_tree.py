"""The command tree: each area registers its commands here; `cli` builds the parser from it.

Registration is data (a path, a help line, a function that adds the arguments and sets `func`), so
areas from two distributions (the runtime and the workbench) can register in any order and the
parser still lists the commands in one fixed order.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

Configure = Callable[[argparse.ArgumentParser], None]


@dataclass
class CommandTree:
    groups: dict[str, str] = field(default_factory=dict)
    commands: list[tuple[tuple[str, ...], str, Configure]] = field(default_factory=list)

    def group(self, name: str, help: str) -> None:
        self.groups.setdefault(name, help)

    def add(self, path: str, help: str, configure: Configure) -> None:
        """`path`: "classify", or "model build" for a command of a group."""
        self.commands.append((tuple(path.split()), help, configure))

    def top_level(self, order: Sequence[str]) -> list[str]:
        names = list(dict.fromkeys([*self.groups, *(path[0] for path, _, _ in self.commands)]))
        rank = {name: i for i, name in enumerate(order)}
        return sorted(names, key=lambda name: (rank.get(name, len(rank)), names.index(name)))

    def build(self, parser: argparse.ArgumentParser, order: Sequence[str]) -> None:
        sub = parser.add_subparsers(dest="command", required=True)
        for name in self.top_level(order):
            if name in self.groups:
                group = sub.add_parser(name, help=self.groups[name]).add_subparsers(dest="action", required=True)
                for path, help, configure in self.commands:
                    if path[0] == name and len(path) == 2:
                        configure(group.add_parser(path[1], help=help))
            else:
                for path, help, configure in self.commands:
                    if path == (name,):
                        configure(sub.add_parser(name, help=help))
