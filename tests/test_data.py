import pandas as pd
import pytest

from course_lib.data import Sizes, load_imdb_folder, load_text_classification, write_imdb_folder


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
    with pytest.raises(ValueError, match="Unknown dataset 'imbd'; choose one of: imdb, ag_news, yelp"):
        load_text_classification("imbd", "offline")
    with pytest.raises(ValueError, match="choose one of: hub, offline"):
        load_text_classification("imdb", "cloud")


@pytest.mark.parametrize("name,num_labels", [("imdb", 2), ("ag_news", 4), ("yelp", 5)])
def test_offline_splits_have_hub_schema_and_sizes(tmp_cache, name, num_labels):
    ds = load_text_classification(name, "offline", Sizes(train=60, validation=10, test=30), seed=1)
    assert {k: len(v) for k, v in ds.items()} == {"train": 60, "validation": 10, "test": 30}
    assert set(ds["train"].column_names) == {"text", "label"}
    assert set(ds["train"]["label"]) <= set(range(num_labels))
    again = load_text_classification(name, "offline", Sizes(train=60, validation=10, test=30), seed=1)
    assert again["test"]["text"] == ds["test"]["text"]  # deterministic
    assert not set(ds["train"]["text"]) & set(ds["test"]["text"])


def test_ag_news_parquet_format_goes_through_load_dataset(tmp_cache):
    load_text_classification("ag_news", "offline", Sizes(train=20, validation=2, test=10), seed=0)
    files = list(tmp_cache.glob("data/ag_news/*/train.parquet"))
    frame = pd.read_parquet(files[0])
    assert list(frame.columns) == ["label", "text"]


def test_offline_cache_is_keyed_by_generator_version(tmp_cache, monkeypatch):
    from course_lib import data

    load_text_classification("yelp", "offline", Sizes(train=20, validation=2, test=10), seed=0)
    folders = [p.name for p in (tmp_cache / "data" / "yelp").iterdir()]
    assert folders == [f"gen{data.generator_version()}-seed0-train40-test10"]  # published, no staging left over
    monkeypatch.setattr(data, "generator_version", lambda: "edited0000")
    load_text_classification("yelp", "offline", Sizes(train=20, validation=2, test=10), seed=0)
    assert "gen{}-seed0-train40-test10".format("edited0000") in [p.name for p in (tmp_cache / "data" / "yelp").iterdir()]
