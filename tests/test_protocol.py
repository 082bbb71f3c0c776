"""course_lib.experiments.protocol: budgets, learning-rate bracketing, convergence and the one verdict function."""

import numpy as np
import pytest

from course_lib.experiments import protocol


def test_split_budget_counts_validation():
    assert protocol.split_budget(100) == (80, 20)
    assert protocol.split_budget(50) == (40, 10)
    train, val = protocol.split_budget(2000)
    assert train + val == 2000
    for bad in (0, 5, 2.5, -100, True):
        with pytest.raises(ValueError, match="budget"):
            protocol.split_budget(bad)


def _peaked(best):
    return lambda lr: -abs(np.log10(lr) - np.log10(best))


def test_search_keeps_a_bracketed_grid():
    s = protocol.search_learning_rate(_peaked(3e-3), (1e-3, 3e-3, 1e-2))
    assert s.learning_rate == 3e-3 and s.bracketed and s.extensions == 0 and s.grid == [1e-3, 3e-3, 1e-2]


def test_search_widens_while_the_best_is_on_an_edge():
    s = protocol.search_learning_rate(_peaked(1e-4), (1e-3, 3e-3, 1e-2), max_extensions=4)
    assert s.grid[0] < 1e-3 and s.extensions >= 2
    assert s.bracketed and s.learning_rate == pytest.approx(1.11e-4)
    up = protocol.search_learning_rate(_peaked(0.1), (1e-3, 3e-3, 1e-2), max_extensions=4)
    assert up.grid[-1] > 1e-2 and up.bracketed


def test_search_that_runs_out_of_widenings_says_unbracketed():
    s = protocol.search_learning_rate(_peaked(1e-6), (1e-3, 3e-3, 1e-2), max_extensions=1)
    assert not s.bracketed and s.learning_rate == s.grid[0] and s.extensions == 1
    record = {**s.as_record()}
    ok, why = protocol.rankable(record)
    assert not ok and "end of the grid" in why


def test_a_best_score_tied_inside_the_grid_is_bracketed():
    """Small validation sets tie; what matters is that both ends of the grid scored lower than the best."""
    scores = {1e-4: 0.55, 3e-4: 0.75, 1e-3: 0.75, 3e-3: 0.7}
    s = protocol.search_learning_rate(scores.__getitem__, sorted(scores), max_extensions=0)
    assert s.bracketed and s.learning_rate == 3e-4  # ties go to the smaller rate
    assert protocol.is_bracketed([1e-4, 3e-4, 1e-3], [0.6, 0.7, 0.7]) is False  # the best reached at the top end
    assert protocol.is_bracketed([1e-4, 3e-4], [0.6, 0.7]) is False  # two values bracket nothing


def test_search_widens_past_a_best_tied_with_an_end():
    """[0.6, 0.75, 0.75]: the best is reached at the top end, so the search goes on upwards until it falls."""
    table = {1e-3: 0.6, 3e-3: 0.75, 1e-2: 0.75, 3e-2: 0.7}
    s = protocol.search_learning_rate(lambda lr: table[min(table, key=lambda g: abs(g - lr))], (1e-3, 3e-3, 1e-2))
    assert s.extensions == 1 and s.grid[-1] == pytest.approx(3e-2) and s.bracketed and s.learning_rate == 3e-3


def test_flat_scores_are_not_bracketed():
    s = protocol.search_learning_rate(lambda lr: 0.5, (1e-3, 3e-3, 1e-2), max_extensions=0)
    assert not s.bracketed


def test_capped_runs_are_not_rankable():
    assert protocol.is_capped(6, 6) and not protocol.is_capped(3, 6)
    assert not protocol.rankable({"bracketed": True, "capped": True, "max_epochs": 6})[0]
    assert protocol.rankable({"bracketed": True, "capped": False})[0]
    assert protocol.rankable({"accuracy": 0.8})[0]  # a baseline without a learning rate


def test_correctness_strings_round_trip():
    bits = [True, False, True, True]
    assert protocol.encode_correct(bits) == "1011"
    assert protocol.decode_correct("1011").tolist() == bits
    with pytest.raises(ValueError):
        protocol.decode_correct("10x")


def _seeds(p, n=1000, seeds=(0, 1, 2), rng=0):
    rng = np.random.default_rng(rng)
    return {s: rng.random(n) < p for s in seeds}


def test_compare_finds_a_real_difference_and_its_sign():
    a, b = _seeds(0.85, rng=1), _seeds(0.70, rng=2)
    c = protocol.compare(a, b, task="t", budget=100, names=("a", "b"))
    assert c.verdict == "a better" and c.ci95[0] > 0 and c.mean_difference == pytest.approx(c.mean_a - c.mean_b)
    flipped = protocol.compare(b, a, task="t", budget=100, names=("b", "a"))
    assert flipped.verdict == "b better"
    assert "a beats b" in protocol.sentence(c) and "a beats b" in protocol.sentence(flipped)


def test_compare_calls_a_tie_indistinguishable():
    a = _seeds(0.8, rng=3)
    b = {s: v.copy() for s, v in a.items()}
    for s in b:  # swap which examples are right, as many each way: no real difference
        right, wrong = np.flatnonzero(a[s])[:20], np.flatnonzero(~a[s])[:20]
        b[s][right], b[s][wrong] = False, True
    c = protocol.compare(a, b, task="t", budget=None, names=("a", "b"))
    assert c.verdict == "indistinguishable" and c.ci95[0] <= 0 <= c.ci95[1]
    assert "indistinguishable" in protocol.sentence(c)


def test_the_interval_includes_seed_to_seed_spread():
    """A difference that flips sign between seeds is not a ranking, however many test examples agree within one."""
    n = 2000
    a = {0: np.ones(n, bool), 1: np.zeros(n, bool), 2: np.ones(n, bool)}
    b = {0: np.zeros(n, bool), 1: np.ones(n, bool), 2: np.zeros(n, bool)}
    assert protocol.compare(a, b, task="t", budget=None, names=("a", "b")).verdict == "indistinguishable"


def test_compare_needs_three_seeds_and_equal_test_sets():
    with pytest.raises(ValueError, match="at least 3"):
        protocol.compare(_seeds(0.8, seeds=(0, 1)), _seeds(0.7, seeds=(0, 1)), task="t", budget=1, names=("a", "b"))
    with pytest.raises(ValueError, match="different numbers"):
        protocol.compare(_seeds(0.8, n=10), _seeds(0.7, n=11), task="t", budget=1, names=("a", "b"))


def test_an_unrankable_run_gives_no_ranking_whatever_the_interval():
    """A pair with an unbracketed (or capped) run states no ranking: not when its interval excludes 0, and not
    "indistinguishable" either."""
    bracketed = {s: {"bracketed": True, "capped": False} for s in (0, 1, 2)}
    edge = {s: {"bracketed": s != 1, "learning_rate_grid": [1e-4, 3e-4, 1e-3]} for s in (0, 1, 2)}
    apart = protocol.compare(_seeds(0.85, rng=1), _seeds(0.70, rng=2), task="t", budget=100, names=("a", "b"),
                             records=(bracketed, edge))
    assert apart.ci95[0] > 0 and apart.verdict == "a better"  # the interval excludes 0 ...
    assert apart.note.startswith("b: its learning-rate search (0.0001, 0.0003, 0.001)")  # ... and yet
    assert protocol.sentence(apart).startswith("a vs b: no ranking") and "beats" not in protocol.sentence(apart)
    a = _seeds(0.8, rng=3)
    same = protocol.compare(a, a, task="t", budget=100, names=("a", "b"), records=(edge, bracketed))
    assert same.verdict == "indistinguishable" and same.note.startswith("a: ")
    assert "no ranking" in protocol.sentence(same) and "indistinguishable" not in protocol.sentence(same)
    capped = {s: {"bracketed": True, "capped": s == 2, "max_epochs": 20} for s in (0, 1, 2)}
    late = protocol.compare(a, a, task="t", budget=100, names=("a", "b"), records=(capped, bracketed))
    assert late.note == "a: it was still improving at its epoch cap (20) (seed 2)"
    # every run rankable, or no records: no note, the interval decides
    assert protocol.compare(a, a, task="t", budget=100, names=("a", "b"), records=(bracketed, bracketed)).note == ""
    assert protocol.compare(a, a, task="t", budget=100, names=("a", "b")).note == ""


def test_no_ranking_note_names_each_method_once():
    edge = {"bracketed": False, "learning_rate_grid": [1e-3, 3e-3]}
    assert protocol.no_ranking_note({"a": {0: edge, 1: edge}, "b": [{"accuracy": 0.8}]}) == (
        "a: its learning-rate search (0.001, 0.003) found no bracketed optimum: its best validation score is "
        "reached at an end of the grid")
    assert protocol.no_ranking_note({"a": {0: {"bracketed": True}}, "b": {0: {}}}) == ""


def test_find_flips_a_stored_comparison():
    c = protocol.compare(_seeds(0.85, rng=1), _seeds(0.7, rng=2), task="t", budget=100, names=("a", "b")).as_dict()
    back = protocol.find([c], "t", "b", "a", 100)
    assert back["verdict"] == "b better" and back["mean_difference"] == pytest.approx(-c["mean_difference"])
    assert back["ci95"] == [-c["ci95"][1], -c["ci95"][0]]
    assert protocol.find([c], "t", "a", "b", 500) is None


def test_standing_reads_a_comparison_in_one_word():
    assert protocol.standing(None) is None  # not measured
    assert protocol.standing({"verdict": "a better", "note": "scratch: its learning-rate search ..."}) == "no ranking"
    for verdict in ("a better", "b better", "indistinguishable"):
        assert protocol.standing({"verdict": verdict}) == verdict
