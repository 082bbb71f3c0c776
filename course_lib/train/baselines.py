"""Baselines every transfer strategy is read against, on the same splits.

- :func:`tfidf_logreg`: TF-IDF of word 1-2-grams + logistic regression (scikit-learn). A strong, cheap baseline
  for document classification: on 500 IMDB reviews it reaches ~0.83, which a small Transformer trained on those
  500 reviews does not. Its regularisation ``C`` is picked on the validation split.
- :func:`majority_baseline`: always the most frequent training label (scikit-learn's ``DummyClassifier``).

The pretrained-Transformer comparison is :mod:`course_lib.experiments.pretrained`.
"""

from __future__ import annotations

from dataclasses import dataclass

C_GRID = (0.3, 1.0, 3.0, 10.0, 30.0)


@dataclass
class BaselineResult:
    name: str
    accuracy: float
    validation_accuracy: float
    setting: dict  # the hyper-parameter chosen on validation
    trainable_params: int | None = None
    total_params: int | None = None


def tfidf_logreg(train, validation, test, *, c_grid=C_GRID, seed: int = 0, truncate=None) -> BaselineResult:
    """TF-IDF (1-2-grams, sublinear tf) + logistic regression; ``C`` chosen on ``validation``, tested on ``test``.

    ``train``/``validation``/``test`` are ``datasets.Dataset`` (or dicts) with ``text`` and ``label`` columns.
    ``truncate``: a function ``list[str] -> list[str]`` that cuts every text to what the compared model reads (its
    first 128 tokens, say): a baseline that reads whole reviews while the models read their first tokens wins
    partly by reading more. The result's ``setting["correct"]`` says, per test example, whether it was right.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    cut = truncate or list
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    x_train = vectorizer.fit_transform(cut(list(train["text"])))
    x_val, x_test = vectorizer.transform(cut(list(validation["text"]))), vectorizer.transform(cut(list(test["text"])))
    y_train, y_val, y_test = list(train["label"]), list(validation["label"]), list(test["label"])
    best = None
    for c in c_grid:
        clf = LogisticRegression(C=c, max_iter=2000, random_state=seed).fit(x_train, y_train)
        val = clf.score(x_val, y_val)
        if best is None or val > best[0]:
            best = (val, c, clf)
    val, c, clf = best
    n_params = int(clf.coef_.size + clf.intercept_.size)
    correct = [bool(p == y) for p, y in zip(clf.predict(x_test), y_test)]
    return BaselineResult("tfidf_logreg", float(sum(correct) / max(len(correct), 1)), float(val),
                          {"C": c, "correct": correct}, trainable_params=n_params, total_params=n_params)


def majority_baseline(train_labels, test_labels) -> tuple[int, float]:
    """The most frequent training label (ties: the smallest) and the test accuracy of always predicting it.

    scikit-learn's ``DummyClassifier(strategy="most_frequent")``.
    """
    from sklearn.dummy import DummyClassifier

    train_labels, test_labels = list(train_labels), list(test_labels)
    if not train_labels or not test_labels:
        raise ValueError("majority_baseline needs non-empty training and test labels")
    clf = DummyClassifier(strategy="most_frequent").fit([[0]] * len(train_labels), train_labels)
    return int(clf.predict([[0]])[0]), float(clf.score([[0]] * len(test_labels), test_labels))
