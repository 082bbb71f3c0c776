import pytest

from course_lib.train.baselines import C_GRID, majority_baseline, tfidf_logreg


def _split(texts, labels):
    return {"text": texts, "label": labels}


def test_tfidf_logreg_learns_words_and_picks_c_on_validation():
    sport = ["the team won the match", "a late goal won the cup final", "the striker scored twice",
             "fans cheered the team"]
    money = ["shares fell on the market", "profits rose this quarter", "the bank raised interest rates",
             "stocks and bonds"]
    train = _split(sport + money, [0] * 4 + [1] * 4)
    validation = _split(["the team scored a goal", "the market for shares"], [0, 1])
    test = _split(["the cup final goal", "bank profits and shares"], [0, 1])
    result = tfidf_logreg(train, validation, test)
    assert result.accuracy == 1.0 and result.validation_accuracy == 1.0
    assert result.setting["C"] in C_GRID and result.trainable_params > 0
    flipped = tfidf_logreg(train, validation, _split(test["text"], [1, 0]))
    assert flipped.accuracy == 0.0  # the test labels are really scored


def test_majority_baseline_uses_training_labels():
    assert majority_baseline([3, 3, 0], [0, 0, 0, 3]) == (3, pytest.approx(0.25))
