"""Word error rate (models/wer.py)."""

from __future__ import annotations

import pytest

from callradar.models.wer import edit_distance, normalize_words, word_error_rate


def test_normalisation_ignores_case_and_punctuation():
    assert normalize_words("And so, my fellow Americans: ask NOT!") == ["and", "so", "my", "fellow", "americans", "ask", "not"]
    assert normalize_words("Don't \u2014 it's third-time") == ["dont", "its", "third", "time"]


def test_edit_distance_counts_each_kind_of_edit():
    assert edit_distance("a b c".split(), "a b c".split()) == 0
    assert edit_distance("a b c".split(), "a x c".split()) == 1  # substitution
    assert edit_distance("a b c".split(), "a c".split()) == 1  # deletion
    assert edit_distance("a b c".split(), "a b b c".split()) == 1  # insertion
    assert edit_distance([], "a b".split()) == 2
    assert edit_distance("a b".split(), []) == 2


def test_word_error_rate():
    reference = "ask not what your country can do for you"
    assert word_error_rate(reference, "Ask not what your country can do for you.") == 0.0
    assert word_error_rate(reference, "ask not what your county can do for you") == pytest.approx(1 / 9)
    assert word_error_rate(reference, "") == 1.0
    assert word_error_rate("", "") == 0.0
    assert word_error_rate("", "hello") == 1.0
    assert word_error_rate("yes", "yes yes yes") == 2.0  # insertions can push it over 1


def test_edit_distance_on_longer_texts_matches_the_textbook_count():
    reference = ("i want to speak to a manager about the refund for my order " * 5).split()
    hypothesis = ("i want speak to the manager about uh the refund for my my order " * 5).split()
    # each repeat: "to" deleted, "a" -> "the", "uh" and "my" inserted
    assert edit_distance(reference, hypothesis) == 4 * 5


def test_edit_distance_refuses_words_it_would_split():
    with pytest.raises(ValueError, match="one token"):
        edit_distance(["two words"], ["two", "words"])
    with pytest.raises(ValueError, match="one token"):
        edit_distance([""], ["a"])
