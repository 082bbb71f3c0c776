import pytest

from course_lib.text import TextPipeline, Vocab, basic_english, vocab_from_words


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
