"""The background sample for the centring lever: fixed general text, never the stream.

e5's cosines sit in a narrow band because every embedding shares one large common direction;
centring subtracts the mean embedding of general text from both text and label vectors before
the cosine. `model quality` measures it; it is not shipped in the engine, because on the labeled
sets it lowered macro-F1 (docs/quality.md).
"""

from __future__ import annotations

from pathlib import Path

BACKGROUND_FILE = Path(__file__).parent / "background_texts.txt"


def background_texts() -> list[str]:
    lines = BACKGROUND_FILE.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]
