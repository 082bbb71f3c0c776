"""Dataset loaders: the real sources and their offline stand-ins, through one code path.

Every loader returns a ``datasets.DatasetDict`` with ``train``, ``validation`` and ``test`` splits and the hub
dataset's own columns (``text`` and ``label``), whatever the source:

============  ===============================  =========================================================
name          SOURCE=hub                       SOURCE=offline (synthetic, see :mod:`course_lib.synthetic`)
============  ===============================  =========================================================
imdb          ``stanfordnlp/imdb``             synthetic reviews written in the **aclImdb folder layout**
                                               and read by :func:`load_imdb_folder`, the source's format
ag_news       ``fancyzhx/ag_news``             synthetic news written as parquet, read by ``load_dataset``
yelp          ``Yelp/yelp_review_full``        synthetic 5-star ratings, parquet, read by ``load_dataset``
============  ===============================  =========================================================

The hub datasets have no validation split: like the source notebook we hold out 5% of ``train`` (seeded).
Profiles cap the sizes with :class:`Sizes`; the cap is applied after the split, so no test example is ever used
for model selection.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from course_lib.config import cache_dir

HUB_IDS = {"imdb": "stanfordnlp/imdb", "ag_news": "fancyzhx/ag_news", "yelp": "Yelp/yelp_review_full"}
SYNTHETIC_KIND = {"imdb": "reviews", "ag_news": "news", "yelp": "ratings"}
LABEL_NAMES = {
    "imdb": ["negative", "positive"],
    "ag_news": ["World", "Sports", "Business", "Sci/Tech"],
    "yelp": ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"],
}
VALIDATION_FRACTION = 0.05


@dataclass(frozen=True)
class Sizes:
    """How many examples of each split to use (``None`` = all)."""

    train: int | None = None
    validation: int | None = None
    test: int | None = None


def _check_name(name: str) -> str:
    if name not in HUB_IDS:
        raise ValueError(f"Unknown dataset {name!r}; choose one of: {', '.join(HUB_IDS)}")
    return name


def load_imdb_folder(root: str | os.PathLike):
    """Read the aclImdb folder layout into a ``DatasetDict`` with ``train`` and ``test`` (columns text, label).

    Expected layout (as in the original ``aclImdb_v1.tar.gz`` archive)::

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


def generator_version() -> str:
    """A short hash of the generator's source: part of the offline cache key.

    Any edit to :mod:`course_lib.synthetic` changes the data it makes, so cached corpora from an older generator
    must never be read back as if they were current (the chapters' stored outputs would no longer reproduce).
    """
    from course_lib import synthetic

    return hashlib.sha256(Path(synthetic.__file__).read_bytes()).hexdigest()[:10]


def _offline_raw(name: str, n_train: int, n_test: int, seed: int):
    """Generate (once, cached) the synthetic stand-in for ``name`` and load it through the real path.

    The cache folder is keyed by the generator's version, seed and sizes; it is written under a temporary name and
    renamed when complete, so an interrupted run or a parallel one never leaves a half-written corpus behind.
    """
    from datasets import DatasetDict, load_dataset

    from course_lib import synthetic

    folder = cache_dir("data", name) / f"gen{generator_version()}-seed{seed}-train{n_train}-test{n_test}"
    if not folder.is_dir():
        staging = folder.with_name(f"{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        rows = synthetic.make_splits(SYNTHETIC_KIND[name], {"train": n_train, "test": n_test}, seed=seed)
        if name == "imdb":
            write_imdb_folder(staging / "aclImdb", rows)
        else:
            import pandas as pd

            for split, split_rows in rows.items():
                pd.DataFrame(split_rows, columns=["label", "text"]).to_parquet(staging / f"{split}.parquet")
        try:
            staging.rename(folder)
        except OSError:  # another process published the same corpus first: theirs is identical, keep it
            shutil.rmtree(staging, ignore_errors=True)
    if name == "imdb":
        return load_imdb_folder(folder / "aclImdb")
    files = {s: str(folder / f"{s}.parquet") for s in ("train", "test")}
    return DatasetDict(load_dataset("parquet", data_files=files))


def _hub_raw(name: str):
    from datasets import DatasetDict, load_dataset

    ds = load_dataset(HUB_IDS[name])
    return DatasetDict({"train": ds["train"], "test": ds["test"]})


def load_text_classification(name: str, source: str, sizes: Sizes = Sizes(), seed: int = 0):
    """Load ``name`` (``imdb``, ``ag_news`` or ``yelp``) as ``train``/``validation``/``test`` splits.

    ``validation`` is 5% of ``train`` held out with ``seed``; each split is then capped at ``sizes``.
    Offline data are generated with enough rows for the caps (or 25,000 train / 25,000 test without caps).
    """
    name = _check_name(name)
    if source == "hub":
        raw = _hub_raw(name)
    elif source == "offline":
        n_val = sizes.validation or 0
        n_train = (sizes.train or 25_000) + max(n_val, 1)
        # make the held-out 5% at least as big as the validation cap
        n_train = max(n_train, int(n_val / VALIDATION_FRACTION) if n_val else n_train)
        raw = _offline_raw(name, n_train, sizes.test or 25_000, seed)
    else:
        raise ValueError(f"Unknown source {source!r}; choose one of: hub, offline")
    return split_and_cap(raw, sizes, seed)


def split_and_cap(raw, sizes: Sizes, seed: int):
    """Hold out 5% of ``raw["train"]`` as ``validation`` (seeded), keep ``raw["test"]``, then cap each split."""
    from datasets import DatasetDict

    split = raw["train"].train_test_split(test_size=VALIDATION_FRACTION, seed=seed, shuffle=True)
    out = DatasetDict({"train": split["train"], "validation": split["test"], "test": raw["test"]})
    for key in ("train", "validation", "test"):
        cap = getattr(sizes, key)
        if cap is not None and cap < len(out[key]):
            out[key] = out[key].shuffle(seed=seed).select(range(cap))
    return out


def label_names(name: str) -> list[str]:
    return LABEL_NAMES[_check_name(name)]
