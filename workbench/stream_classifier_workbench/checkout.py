"""The repository checkout the workbench runs from (its tools start processes there, keep the local
broker's files under it and read configs/ from it)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
