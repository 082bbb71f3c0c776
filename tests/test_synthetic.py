"""The synthetic offline corpora: determinism, schema, lengths, vocabulary and the designed phenomena."""

import re
from collections import Counter

import pytest

from course_lib import synthetic as S

KINDS = {"reviews": (S.make_reviews, 2), "ratings": (S.make_ratings, 5), "news": (S.make_news, 4)}


def basic_english(text: str) -> list[str]:
    """The torchtext ``basic_english`` rules: lowercase, split off ' . , ( ) ! ?, drop " ; :."""
    text = text.lower()
    for pattern, repl in [(r"'", " '  "), (r'"', ""), (r"\.", " . "), (r"<br \/>", " "), (r",", " , "),
                          (r"\(", " ( "), (r"\)", " ) "), (r"!", " ! "), (r"\?", " ? "), (r";", " "),
                          (r":", " ")]:
        text = re.sub(pattern, repl, text)
    return text.split()


def words(text: str) -> int:
    return sum(1 for t in basic_english(text) if t.isalnum())


@pytest.fixture(scope="module")
def samples():
    return {kind: make(400, 7) for kind, (make, _) in KINDS.items()}


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_per_seed(kind):
    make, _ = KINDS[kind]
    assert make(60, 3) == make(60, 3)
    assert make(60, 3) != make(60, 4)


@pytest.mark.parametrize("kind", KINDS)
def test_schema_and_balanced_labels(kind, samples):
    _, k = KINDS[kind]
    data = samples[kind]
    assert len(data) == 400
    for e in data:
        assert set(e) == {"text", "label"}
        assert isinstance(e["text"], str) and isinstance(e["label"], int) and 0 <= e["label"] < k
    counts = Counter(e["label"] for e in data)
    assert set(counts) == set(range(k))
    assert max(counts.values()) - min(counts.values()) < 0.1 * 400  # balanced before ~5-10 % label noise


def test_label_names():
    assert S.NEWS_LABELS == ["World", "Sports", "Business", "Sci/Tech"]
    assert S.REVIEW_LABELS == ["neg", "pos"]
    assert S.RATING_LABELS == ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]


def test_lengths(samples):
    lens = {kind: [words(e["text"]) for e in data] for kind, data in samples.items()}
    for kind, (lo, hi) in {"reviews": S.REVIEW_WORDS, "ratings": S.RATING_WORDS, "news": S.NEWS_WORDS}.items():
        assert lo <= min(lens[kind]) and max(lens[kind]) <= hi, kind
    mean = {kind: sum(v) / len(v) for kind, v in lens.items()}
    assert 90 <= mean["reviews"] <= 130
    assert mean["news"] * 3 < mean["reviews"]
    assert mean["news"] < mean["ratings"] < mean["reviews"]


def test_every_token_is_a_whole_vocabulary_word(samples):
    vocab = set(S.vocab_path().read_text(encoding="utf-8").split("\n"))
    missing = Counter(t for data in samples.values() for e in data for t in basic_english(e["text"])
                      if t not in vocab)
    assert not missing, missing.most_common(10)
    allowed = set(".,!?'()")
    for data in samples.values():
        for e in data:
            assert all(c.isalnum() or c == " " or c in allowed for c in e["text"]), e["text"]


@pytest.mark.parametrize("kind, rate", [("reviews", S.REVIEW_NOISE), ("news", S.NEWS_NOISE),
                                        ("ratings", S.RATING_NOISE)])
def test_label_noise_is_present_and_reported(kind, rate):
    make, _ = KINDS[kind]
    data, meta = make(1000, 11, return_meta=True)
    flipped = [m["flipped"] for m in meta]
    assert all((e["label"] != m["clean_label"]) == m["flipped"] for e, m in zip(data, meta))
    assert abs(sum(flipped) / len(flipped) - rate) < 0.03
    if kind == "ratings":  # a noisy rating moves exactly one star
        assert all(abs(e["label"] - m["clean_label"]) <= 1 for e, m in zip(data, meta))
    clean = make(200, 11, noise=0.0, return_meta=True)[1]
    assert not any(m["flipped"] for m in clean)


def test_reviews_contain_negation_and_contrast_in_both_classes():
    data, meta = S.make_reviews(400, 5, return_meta=True)
    for label in (0, 1):
        texts = [basic_english(e["text"]) for e, m in zip(data, meta) if m["clean_label"] == label]
        negated = sum(1 for t in texts if {"not", "never", "hardly"} & set(t)) / len(texts)
        contrast = sum(1 for t in texts if "but" in t or "although" in t) / len(texts)
        assert negated > 0.4, (label, negated)  # negation is everywhere, so "not" alone is no label cue
        assert contrast > 0.25, (label, contrast)
    assert sum(m["negations"] > 0 for m in meta) > 0.4 * len(meta)
    text = " ".join(e["text"].lower() for e in data)
    assert "not bad" in text or "not boring" in text or "never boring" in text


def test_ratings_are_graded():
    """The share of positive evaluation words rises with the star rating."""
    data, meta = S.make_ratings(1000, 5, return_meta=True, noise=0.0)
    lex = S.BUSINESS_LEXICON
    pos, neg = set(lex.pos_mild + lex.pos_strong), set(lex.neg_mild + lex.neg_strong)
    share = []
    for star in range(5):
        toks = [t for e in data if e["label"] == star for t in basic_english(e["text"])]
        p, n = sum(t in pos for t in toks), sum(t in neg for t in toks)
        share.append(p / (p + n))
    assert share == sorted(share) and share[0] < 0.3 and share[-1] > 0.6, share


def test_news_shares_evaluation_and_needs_composition():
    data, meta = S.make_news(1000, 5, return_meta=True)
    topical = [m for m in meta if not m["tone_led"]]
    composed = sum(m["distractor"] is not None for m in topical) / len(topical)
    assert abs(composed - S.NEWS_COMPOSITION_RATE) < 0.06
    news_words = {t for e in data for t in basic_english(e["text"])}
    review_words = {t for e in S.make_reviews(300, 5) for t in basic_english(e["text"])}
    shared_eval = news_words & review_words & set(S.CORE_POS_MILD + S.CORE_POS_STRONG + S.CORE_NEG_MILD
                                                   + S.CORE_NEG_STRONG)
    assert len(shared_eval) >= 15, shared_eval
    text = " ".join(e["text"].lower() for e in data)
    assert " was not about " in text and ", but " in text


def test_tone_led_news_are_told_apart_by_polarity_alone():
    data, meta = S.make_news(2000, 6, return_meta=True, noise=0.0)
    tone = [(e, m) for e, m in zip(data, meta) if m["tone_led"]]
    per_topic = {t: sum(m["clean_label"] == t for _, m in tone) / sum(m["clean_label"] == t for m in meta)
                 for t in range(4)}
    assert per_topic[1] == per_topic[2] == 0  # only World (bad news) and Sci/Tech (good news)
    assert all(abs(per_topic[t] - S.NEWS_TONE_LED_RATE) < 0.06 for t in (0, 3)), per_topic
    assert all(m["evaluation"] == (e["label"] == 3) for e, m in tone)
    cues = [c for t in range(4) for c in S.TOPIC_CUES[t]] + S.TEAMS + S.NEWS_SLOTS["firm"] + S.NEWS_SLOTS["tech"]
    assert not [c for e, _ in tone for c in cues if c.lower() in e["text"].lower()]  # no topic words at all
    # the same surface words appear on both sides: only their composition (negation, but) decides
    world = {w for e, _ in tone if e["label"] == 0 for w in basic_english(e["text"])}
    scitech = {w for e, _ in tone if e["label"] == 3 for w in basic_english(e["text"])}
    assert {"good", "bad", "not", "but"} <= world & scitech


def test_make_splits_uses_independent_seeds():
    sizes = {"train": 300, "validation": 50, "test": 100}
    splits = S.make_splits("news", sizes, seed=1)
    assert {k: len(v) for k, v in splits.items()} == sizes
    assert splits["test"] == S.make_splits("news", {"test": 100}, seed=1)["test"]
    assert splits["test"] == S.make_news(100, S.split_seed(1, "test"))
    train = {e["text"] for e in splits["train"]}
    shared = sum(e["text"] in train for e in splits["test"])
    assert shared <= 3  # short news items may coincide by chance, rarely
    reviews = S.make_splits("reviews", {"train": 100, "test": 100}, seed=1)
    assert not {e["text"] for e in reviews["train"]} & {e["text"] for e in reviews["test"]}
    assert S.split_seed(1, "other") != S.split_seed(1, "train")
    with pytest.raises(ValueError):
        S.make_splits("tweets", sizes)


def test_knobs_reach_the_text():
    _, meta = S.make_news(800, 9, return_meta=True, good_share=(0.0, 1.0, 0.0, 1.0), evaluative_rate=1.0)
    assert all(m["evaluation"] == (m["clean_label"] in (1, 3)) for m in meta)
    _, meta = S.make_reviews(100, 9, return_meta=True, topics=("crime",))
    assert {m["topic"] for m in meta} == {"crime"}
    plain, meta = S.make_reviews(200, 9, return_meta=True, negation_rate=0.0, contrast_rate=0.0)
    assert not any(m["negations"] or m["contrast"] for m in meta)
