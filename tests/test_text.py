import pytest

from course_lib.data.text import TextPipeline, Vocab, basic_english, vocab_from_words


def test_basic_english_matches_torchtext_rules():
    assert basic_english("Not bad, really!") == ["not", "bad", ",", "really", "!"]
    assert basic_english('He said: "it\'s (fine)."<br />OK?') == [
        "he", "said", "it", "'", "s", "(", "fine", ")", ".", "ok", "?"]
    assert basic_english("") == []
    with pytest.raises(TypeError):
        basic_english(None)


def test_vocab_specials_and_default():
    v = vocab_from_words(["the", "movie"])
    assert v.itos[:2] == ["<unk>", "<pad>"] and v.pad_index == 1
    assert v(["the", "zzz"]) == [2, 0]
    assert v.lookup_tokens([3]) == ["movie"]
    with pytest.raises(ValueError, match="duplicate"):
        Vocab(["<unk>", "a", "a"])
    with pytest.raises(ValueError, match="also occur as words"):
        vocab_from_words(["<pad>"])


def test_pipeline_truncates_long_text():
    v = vocab_from_words(["word"])
    ids = TextPipeline(v, max_len=16)("word " * 100_000)
    assert ids == [2] * 16
    with pytest.raises(ValueError):
        TextPipeline(v, max_len=0)


def padding(batches, lengths):
    """Padding tokens when each batch is padded to its own longest text."""
    return sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)


def test_length_grouped_batches_hold_texts_of_similar_length():
    import random

    from course_lib.train.batching import LengthGroupedBatchSampler

    rng = random.Random(0)
    lengths = [rng.randint(1, 500) for _ in range(2000)]
    # one pool holding everything: the batches are consecutive runs of the sorted lengths
    whole = list(LengthGroupedBatchSampler(lengths, 8, seed=0, pool_factor=len(lengths)))
    spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in whole)
    assert all(hi <= next_lo for (_, hi), (next_lo, _) in zip(spans, spans[1:]))
    # the default pools (50 batches each): far less padding than batches of random texts, and still shuffled
    sampler = LengthGroupedBatchSampler(lengths, 8, seed=0)
    grouped, again = list(sampler), list(sampler)
    shuffled = list(range(len(lengths)))
    rng.shuffle(shuffled)
    random_batches = [shuffled[i:i + 8] for i in range(0, len(shuffled), 8)]
    assert padding(grouped, lengths) < padding(random_batches, lengths) / 10
    assert sorted(i for b in grouped for i in b) == list(range(len(lengths)))
    assert grouped != again and padding(again, lengths) < padding(random_batches, lengths) / 10  # a new epoch
    ordered = list(LengthGroupedBatchSampler(lengths, 8, shuffle=False))  # evaluation: no shuffling, same grouping
    assert ordered == list(LengthGroupedBatchSampler(lengths, 8, shuffle=False))
    assert padding(ordered, lengths) < padding(random_batches, lengths) / 10
