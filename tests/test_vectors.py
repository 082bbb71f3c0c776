import io
import zipfile

import huggingface_hub
import huggingface_hub.constants as hf_constants
import numpy as np
import pytest

from course_lib.data import vectors
from course_lib.data.vectors import get_word_vectors, load_glove, minilm_whole_words, write_glove
from course_lib.rehearsal import write_repo  # the hub-cache layout huggingface_hub reads


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


# --- GloVe on the hub path: stanfordnlp/glove's glove.6B.zip, from the Hugging Face cache or downloaded once ---------

WORDS = ["the", "movie", "excellent", "boring"]


def tiny_glove_zip(dims=(50, 100)) -> bytes:
    """A glove.6B.zip of the real archive's layout: one ``glove.6B.<d>d.txt`` member per dimension."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for d in dims:
            rows = rng.normal(size=(len(WORDS), d)).round(5)
            zf.writestr(f"glove.6B.{d}d.txt", "".join(w + " " + " ".join(f"{x:.5f}" for x in r) + "\n"
                                                      for w, r in zip(WORDS, rows)))
    return buf.getvalue()


@pytest.fixture()
def hub_cache(tmp_path, tmp_cache, monkeypatch):
    """An empty Hugging Face hub cache, offline, with GLOVE_PATH unset."""
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("GLOVE_PATH", raising=False)
    return cache


def test_hub_glove_comes_from_the_hugging_face_cache(hub_cache, tmp_cache):
    write_repo(hub_cache, vectors.GLOVE_HUB_REPO, "model", {vectors.GLOVE_HUB_FILE: tiny_glove_zip()})
    wv = get_word_vectors("hub")
    assert wv.words == WORDS and wv.dim == 100  # the 100-d member, as the chapters use
    extracted = vectors.hub_glove_file()
    assert extracted.name == vectors.GLOVE_MEMBER and tmp_cache in extracted.parents  # once, in the course cache
    assert get_word_vectors("hub").words == WORDS


def test_hub_glove_checks_the_published_sha256(hub_cache):
    _, snapshot = write_repo(hub_cache, vectors.GLOVE_HUB_REPO, "model", {vectors.GLOVE_HUB_FILE: tiny_glove_zip()})
    blob = (snapshot / vectors.GLOVE_HUB_FILE).resolve()
    blob.write_bytes(tiny_glove_zip(dims=(100,)))  # different bytes under the blob named after the original sha256
    with pytest.raises(ValueError, match="sha256"):
        get_word_vectors("hub")


def test_glove_path_overrides_the_hub(hub_cache, tmp_path, monkeypatch):
    path = write_glove(tmp_path / "mine.txt", ["a", "b"], np.ones((2, 3), dtype=np.float32))
    monkeypatch.setenv("GLOVE_PATH", str(path))
    assert get_word_vectors("hub").words == ["a", "b"]  # no archive in the cache, and none needed


def test_hub_glove_offline_and_not_cached_names_the_fixes(hub_cache):
    with pytest.raises(FileNotFoundError) as err:
        get_word_vectors("hub")
    assert "hf download stanfordnlp/glove glove.6B.zip" in str(err.value) and "GLOVE_PATH" in str(err.value)


def test_hub_glove_is_downloaded_once_when_online(hub_cache, tmp_cache, monkeypatch):
    """Online, ``hf_hub_download`` fetches the archive into the Hugging Face cache; the second call reads it there."""
    calls = []

    def fake_download(repo_id, filename, **kwargs):  # what hf_hub_download leaves behind: a cached snapshot file
        calls.append((repo_id, filename))
        _, snapshot = write_repo(hub_cache, repo_id, "model", {filename: tiny_glove_zip()})
        return str(snapshot / filename)

    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    assert get_word_vectors("hub").words == WORDS
    assert get_word_vectors("hub").words == WORDS
    assert calls == [(vectors.GLOVE_HUB_REPO, vectors.GLOVE_HUB_FILE)] * 2  # the hub cache answers the second call
    assert not (tmp_cache / "vectors" / "hub").exists()  # no second copy of the archive in the course cache


def test_word_vector_sizes_are_checked(tmp_path, tmp_cache):
    path = write_glove(tmp_path / "g.txt", ["a", "b"], np.ones((2, 3), dtype=np.float32))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_words must be a positive integer"):
            load_glove(path, max_words=bad)
    with pytest.raises(ValueError, match="dim must be a positive integer"):
        vectors.offline_glove_file(dim=0)


def test_write_glove_leaves_no_staging_file_behind(tmp_path):
    write_glove(tmp_path / "g.txt", ["a"], np.ones((1, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="contain no spaces"):
        write_glove(tmp_path / "bad.txt", ["a b"], np.ones((1, 2), dtype=np.float32))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.txt"]
