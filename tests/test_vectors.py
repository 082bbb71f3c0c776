import numpy as np
import pytest

from course_lib.vectors import load_glove, minilm_whole_words, write_glove


def test_roundtrip_and_max_words(tmp_path, tmp_cache):
    words = ["the", ",", "movie"]
    vecs = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    path = write_glove(tmp_path / "g.txt", words, vecs)
    wv = load_glove(path)
    assert wv.words == words and wv.dim == 4
    np.testing.assert_allclose(wv.vectors, vecs, atol=1e-5)
    assert len(load_glove(path, max_words=2)) == 2
    assert load_glove(path).words == words  # second load comes from the binary cache


def test_short_line_is_reported_with_its_line_number(tmp_path, tmp_cache):
    path = tmp_path / "bad.txt"
    path.write_text("the 0.1 0.2 0.3\nmovie 0.1 0.2\ngood 0.3 0.2 0.1\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: malformed line: expected a word and 3 values, found 2"):
        load_glove(path)
    with pytest.warns(UserWarning, match="skipped 1 malformed line"):
        wv = load_glove(path, errors="skip", use_cache=False)
    assert wv.words == ["the", "good"]


def test_non_numeric_value_is_reported(tmp_path, tmp_cache):
    path = tmp_path / "bad.txt"
    path.write_text("the 0.1 0.2\nmovie 0.1 abc\n")
    with pytest.raises(ValueError, match=":2: malformed"):
        load_glove(path)


def test_missing_file_names_the_format(tmp_path):
    with pytest.raises(FileNotFoundError, match="word v1 ... vD"):
        load_glove(tmp_path / "none.txt")


def test_minilm_whole_words_filter():
    vocab = ["[PAD]", "the", "##ing", "!", "café", "42", "[unused3]"]
    assert minilm_whole_words(vocab) == [1, 3, 5]
