"""The live-load benchmark's arithmetic (bench/live_load.py): no broker, no models."""

import math

import pytest

from bench.live_load import (
    add_counts,
    all_over_budget,
    largest_within,
    parse_int_list,
    percentiles,
    prometheus_value,
    threads_per_worker,
    utterance_accounting,
)


def test_percentiles_interpolate_linearly():
    out = percentiles(range(1, 101))  # 1..100
    assert out == {"n": 100, "p50": 50.5, "p95": 95.05, "p99": 99.01, "max": 100.0}


def test_percentiles_of_one_value_and_of_none():
    assert percentiles([0.7]) == {"n": 1, "p50": 0.7, "p95": 0.7, "p99": 0.7, "max": 0.7}
    assert percentiles([]) == {"n": 0}
    assert percentiles(x for x in ()) == {"n": 0}  # generators are fine


def test_percentiles_round():
    assert percentiles([1 / 3], digits=2)["p50"] == 0.33


@pytest.mark.parametrize("text, expected", [
    ("4,10,20,40", [4, 10, 20, 40]),
    ("40, 4,10 ,4", [4, 10, 40]),  # sorted, duplicates dropped, spaces allowed
    ("7", [7]),
    ("1,2,", [1, 2]),
])
def test_parse_int_list(text, expected):
    assert parse_int_list(text) == expected


@pytest.mark.parametrize("text, message", [
    ("", "at least one"),
    (" , ", "at least one"),
    ("4,ten", "'ten' is not a whole number"),
    ("4,2.5", "not a whole number"),
    ("0,4", "0 is below 1"),
    ("-3", "below 1"),
])
def test_parse_int_list_refuses(text, message):
    with pytest.raises(ValueError, match=message):
        parse_int_list(text, "--sweep")


def test_largest_within_stops_at_the_first_failure():
    assert largest_within({4: 0.8, 10: 0.95, 20: 1.4, 40: 3.2}, 1.5) == 20
    # a lucky larger N after a failure does not count: p95 must stay under the budget
    assert largest_within({4: 0.8, 10: 1.6, 20: 1.2}, 1.5) == 4
    assert largest_within({10: 0.9, 4: 0.8}, 1.5) == 10  # order of the dict does not matter


def test_largest_within_edges():
    assert largest_within({4: 1.5}, 1.5) == 4  # at the budget counts as within
    assert largest_within({4: 1.51}, 1.5) is None
    assert largest_within({}, 1.5) is None
    assert largest_within({4: 0.9, 10: None, 20: 0.9}, 1.5) == 4  # nothing measured fails
    assert largest_within({4: math.nan}, 1.5) is None


def test_accounting_on_time_late_unscored_dropped():
    reference = [(1.0, 3.0), (5.0, 7.0), (9.0, 11.0), (13.0, 15.0)]
    transcribed = [
        (1.1, 2.9, 0.6),  # on time
        (5.0, 6.9, 2.1),  # late
        (9.2, 10.8, None),  # transcribed, never scored
        # nothing for the turn at 13-15: dropped
    ]
    assert utterance_accounting(reference, transcribed, budget_s=1.5) == {
        "expected": 4, "on_time": 1, "late": 1, "unscored": 1, "dropped": 1}


def test_accounting_split_turn_takes_the_slowest_piece():
    # the segmenter split one scripted turn in two: the turn is only on time if both pieces are
    reference = [(0.0, 6.0)]
    assert utterance_accounting(reference, [(0.0, 2.5, 0.5), (3.2, 6.0, 0.7)], 1.5)["on_time"] == 1
    assert utterance_accounting(reference, [(0.0, 2.5, 0.5), (3.2, 6.0, 1.9)], 1.5)["late"] == 1
    assert utterance_accounting(reference, [(0.0, 2.5, 0.5), (3.2, 6.0, None)], 1.5)["unscored"] == 1


def test_accounting_merged_turns_count_once_each_and_edges_have_tolerance():
    # two short turns merged into one utterance: both are covered by it
    assert utterance_accounting([(1.0, 2.0), (2.2, 3.0)], [(1.0, 3.0, 0.4)], 1.5)["on_time"] == 2
    # segmenter edges a little off the clip edges still match (0.25 s tolerance) ...
    assert utterance_accounting([(4.0, 5.0)], [(5.2, 6.0, 0.4)], 1.5)["on_time"] == 1
    # ... but an utterance well clear of the turn does not
    assert utterance_accounting([(4.0, 5.0)], [(5.5, 6.0, 0.4)], 1.5)["dropped"] == 1


def test_accounting_budget_is_inclusive_and_counts_add_up():
    part = utterance_accounting([(0.0, 1.0)], [(0.0, 1.0, 1.5)], 1.5)
    assert part["on_time"] == 1
    total = add_counts([part, utterance_accounting([(0.0, 1.0), (2.0, 3.0)], [], 1.5)])
    assert total == {"expected": 3, "on_time": 1, "late": 0, "unscored": 0, "dropped": 2}
    assert add_counts([]) == {}


def test_prometheus_value_reads_unlabelled_samples():
    text = (
        "# HELP callradar_stt_audio_seconds_total Seconds of utterance audio transcribed.\n"
        "# TYPE callradar_stt_audio_seconds_total counter\n"
        "callradar_stt_audio_seconds_total 123.5\n"
        "callradar_stt_audio_seconds_created 1.7e+09\n"
        "callradar_stt_busy_seconds_total 4.25\n"
        'callradar_utterances_total{speaker="agent"} 12.0\n'
    )
    assert prometheus_value(text, "callradar_stt_audio_seconds_total") == 123.5
    assert prometheus_value(text, "callradar_stt_busy_seconds_total") == 4.25
    assert prometheus_value(text, "callradar_stt_audio_seconds") is None  # no prefix matches
    assert prometheus_value("", "callradar_stt_busy_seconds_total") is None


def test_threads_per_worker():
    assert threads_per_worker("auto", 1, 2) == 2
    assert threads_per_worker("auto", 2, 2) == 1
    assert threads_per_worker("auto", 4, 2) == 1  # never zero
    assert threads_per_worker("3", 2, 2) == 3
    with pytest.raises(ValueError):
        threads_per_worker("0", 1, 2)


def test_all_over_budget_stops_the_sweep_only_when_every_worker_count_missed():
    assert all_over_budget({1: 30.0, 2: 2.1}, 1.5)
    assert not all_over_budget({1: 30.0, 2: 1.4}, 1.5)
    assert all_over_budget({1: None}, 1.5)  # nothing scored counts as a miss
    assert not all_over_budget({}, 1.5)
