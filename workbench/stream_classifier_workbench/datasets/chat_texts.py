"""Casual English chat, unlabeled: chitchat-dataset 0.9.0 (PyPI, MIT; `chitchat_dataset/dataset.json`,
7,168 conversations). One text is one turn, the consecutive messages of one sender joined by spaces,
as a post reads; distinct; evaluation texts dropped; a seeded shuffle. Labels: it has none.

What an operator with an English chat stream holds, and more English text for a student whose
own English texts are few (docs/distillation.md):

    python -m stream_classifier_workbench.datasets.chat_texts --limit 21369 --out chat.txt
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from stream_classifier_workbench.datasets.pypi_sources import SourceDistribution, read_member

CHITCHAT = SourceDistribution(
    "chitchat-dataset",
    "0.9.0",
    "7bf89f36645e2d5ec87d53370c8e851b5a688479c7beb7079cb4c87fc5acea3e",
    wheel="chitchat_dataset-0.9.0-py3-none-any.whl",
)
SOURCE = f"chitchat-dataset {CHITCHAT.version} wheel (sha256 {CHITCHAT.sha256}), chitchat_dataset/dataset.json"
SEED = 13


def chat_turns() -> list[str]:
    conversations = json.loads(read_member(CHITCHAT, "chitchat_dataset/dataset.json"))
    turns = []
    for conversation in conversations.values():
        for turn in conversation["messages"]:
            text = " ".join(" ".join(message["text"].split()) for message in turn).strip()
            if text:
                turns.append(text)
    return turns


def chat_texts(limit: int | None = None, seed: int = SEED) -> list[str]:
    from stream_classifier_workbench.datasets.evaluation_texts import without_evaluation_texts

    texts, _dropped = without_evaluation_texts(list(dict.fromkeys(chat_turns())))
    random.Random(seed).shuffle(texts)
    return texts[:limit] if limit else texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="one text per line")
    parser.add_argument("--limit", type=int, help="the first N of the seeded shuffle (default: all)")
    args = parser.parse_args(argv)
    texts = chat_texts(args.limit)
    Path(args.out).write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    print(f"wrote {len(texts)} chat turns to {args.out} ({SOURCE})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
