"""Command-line tools and system data some tests need (promtool, helm, WordNet): found, or the test
is skipped with the way to install it — except where SC_REQUIRE_TOOLS is set (CI), where a missing
tool is a failure."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def find_tool(name: str, how_to_install: str) -> str | None:
    built = REPO / ".cache" / "bin" / name
    path = shutil.which(name) or (str(built) if built.exists() else None)
    if path is None and os.environ.get("SC_REQUIRE_TOOLS"):
        raise RuntimeError(f"{name} is required (SC_REQUIRE_TOOLS is set) and not found: {how_to_install}")
    return path


def find_system_file(path: Path, name: str, how_to_install: str) -> str | None:
    if path.exists():
        return str(path)
    if os.environ.get("SC_REQUIRE_TOOLS"):
        raise RuntimeError(f"{name} is required (SC_REQUIRE_TOOLS is set) and not found: {how_to_install}")
    return None


def needs(path: str | None, name: str, how_to_install: str):
    return pytest.mark.skipif(path is None, reason=f"{name} not installed ({how_to_install})")
