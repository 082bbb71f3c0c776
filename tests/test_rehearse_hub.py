"""The hub rehearsal's cache builder (course_lib.rehearsal, run by scripts/rehearse_hub.py): the declared hub
schemas, the cache layout, and that what it builds loads under ``HF_HUB_OFFLINE=1`` with exactly the declared schema."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course_lib import hub
from course_lib import rehearsal as rh

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow  # over 5 s
def test_every_hub_id_the_library_loads_is_rehearsed():
    from course_lib.chapters import ch02_inference as inference
    from course_lib.chapters import ch06_finetune as finetune
    from course_lib.chapters import ch06_sft as sft
    from course_lib.config import Profile
    from course_lib.data import corpora, images
    from course_lib.data import loaders as data
    from course_lib.experiments import mlm

    assert {info.hub_id for info in data.DATASETS.values()} | {corpora.HUB_CORPUS[0], corpora.GUANACO} \
        | set(images.HUB_IDS.values()) == set(rh.HUB_DATASETS)
    from course_lib import hub_ids

    assert set(rh.HUB_DATASETS) == set(hub_ids.DATASETS)  # the registry lists exactly what the rehearsal builds
    assert rh.HUB_DATASETS[corpora.HUB_CORPUS[0]].config == corpora.HUB_CORPUS[1]
    models = set(inference.HUB_MODELS.values()) | {mlm.REFERENCE_HUB_ID}
    for profile in (Profile("fast"), Profile("full")):
        models |= {finetune.config_for(profile).hub_id, sft.config_for(profile).hub_id}
    # the rehearsal holds exactly course_lib.hub's registry, under the canonical ids (a legacy short id that a
    # chapter still names is counted as its canonical id here; loading it warns, naming the canonical id)
    assert {hub.LEGACY_IDS.get(m, m) for m in models} <= set(rh.HUB_MODELS)
    assert set(rh.HUB_MODELS) == set(hub.OFFLINE_MODELS) == set(rh.MODEL_BUILDERS)
    assert set(rh.HUB_DATASETS) == set(rh.ROW_MAKERS) == set(rh.ROWS)


def test_declared_label_names_are_the_ones_the_library_expects():
    from course_lib.data import images
    from course_lib.data import loaders as data

    for name, info in data.DATASETS.items():
        assert rh.HUB_DATASETS[info.hub_id].class_names() == list(info.hub_labels), name
    assert rh.HUB_DATASETS[images.HUB_IDS["emnist_letters"]].class_names() == images.LETTERS
    assert rh.HUB_DATASETS[images.HUB_IDS["mnist"]].class_names() == [str(d) for d in range(10)]


def test_declared_schemas_match_the_hub_cards():
    """Spot checks against the hub's dataset cards: config names, split names, column order and label names."""
    imdb, yelp = rh.HUB_DATASETS["stanfordnlp/imdb"], rh.HUB_DATASETS["Yelp/yelp_review_full"]
    assert (imdb.config, imdb.splits, imdb.class_names()) == ("plain_text", ("train", "test", "unsupervised"),
                                                              ["neg", "pos"])
    assert [c for c, _ in yelp.features] == ["label", "text"] and yelp.class_names()[1] == "2 star"
    assert rh.HUB_DATASETS["fancyzhx/ag_news"].class_names() == ["World", "Sports", "Business", "Sci/Tech"]
    assert rh.HUB_DATASETS["timdettmers/openassistant-guanaco"].files["test"].endswith("_eval.jsonl")


def test_repo_layout_is_what_huggingface_hub_reads(tmp_path):
    import hashlib

    from huggingface_hub import scan_cache_dir, try_to_load_from_cache

    files = {"config.json": b'{"a": 1}\n', "sub/data-00000-of-00001.parquet": b"PAR1 not really"}
    commit, snapshot = rh.write_repo(tmp_path, "owner/name", "model", files)
    folder = tmp_path / "models--owner--name"
    assert (folder / "refs" / "main").read_text() == commit and snapshot == folder / "snapshots" / commit
    small = (snapshot / "config.json")
    assert small.is_symlink() and not os.path.isabs(os.readlink(small))
    assert small.resolve().name == hashlib.sha1(b"blob 9\0" + files["config.json"]).hexdigest()  # git etag
    big = snapshot / "sub" / "data-00000-of-00001.parquet"
    assert big.resolve().name == hashlib.sha256(files["sub/data-00000-of-00001.parquet"]).hexdigest()  # LFS etag
    for path, data in files.items():
        assert Path(try_to_load_from_cache("owner/name", path, cache_dir=tmp_path)).read_bytes() == data
    report = scan_cache_dir(tmp_path)
    assert not report.warnings and [r.repo_id for r in report.repos] == ["owner/name"]


BUILD_AND_LOAD = """
import json
from course_lib import rehearsal as rh
from datasets import load_dataset
hf_home = __import__("pathlib").Path({hf_home!r})
built = rh.build_datasets(hf_home, scale=0.1)
out = {{}}
for repo_id, spec in rh.HUB_DATASETS.items():
    ds = load_dataset(repo_id, spec.config if spec.extra_configs else None)
    out[repo_id] = {{"splits": sorted(ds), "same_features": all(ds[s].features == spec.hf_features() for s in ds),
                    "rows": {{s: len(ds[s]) for s in ds}},
                    "built": {{s: len(r) for s, r in built[repo_id]["rows"].items()}},
                    "arrow": str(built[repo_id]["arrow"])}}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def built_datasets(tmp_path_factory):
    """Every rehearsal dataset (at a tenth of its size), built and then read back in a fresh process offline."""
    tmp = tmp_path_factory.mktemp("rehearsal")
    env = {**os.environ, "HF_HOME": str(tmp / "hf"), "HF_HUB_OFFLINE": "1", "COURSE_LIB_CACHE": str(tmp / "cache"),
           "HF_DATASETS_CACHE": str(tmp / "hf" / "datasets"), "HF_HUB_CACHE": str(tmp / "hf" / "hub"),
           "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    code = BUILD_AND_LOAD.format(hf_home=str(tmp / "hf"))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return tmp / "hf", json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # over 5 s
def test_built_datasets_load_offline_with_the_declared_schema(built_datasets):
    hf_home, loaded = built_datasets
    assert set(loaded) == set(rh.HUB_DATASETS)
    for repo_id, got in loaded.items():
        spec = rh.HUB_DATASETS[repo_id]
        assert got["splits"] == sorted(spec.splits), repo_id
        assert got["same_features"], repo_id
        assert got["rows"] == got["built"], repo_id
        owner, name = repo_id.split("/")
        # where load_dataset prepares a hub dataset: <owner>___<name>/<config>/0.0.0/<commit of the hub snapshot>
        arrow = Path(got["arrow"])
        assert arrow.relative_to(hf_home / "datasets").parts[:3] == (f"{owner}___{name}", spec.config, "0.0.0")
        assert (hf_home / "hub" / f"datasets--{owner}--{name}" / "refs" / "main").read_text() == arrow.name


@pytest.mark.slow  # over 5 s
def test_built_dataset_cards_declare_the_schema(built_datasets):
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCard

    hf_home, _ = built_datasets
    for repo_id, spec in rh.HUB_DATASETS.items():
        card_path = rh.repo_folder(hf_home / "hub", repo_id, "dataset") / "snapshots"
        card = DatasetCard.load(next(card_path.glob("*/README.md")))
        infos, configs = DatasetInfosDict.from_dataset_card_data(card.data), MetadataConfigs.from_dataset_card_data(
            card.data)
        if not spec.card:  # guanaco's card declares nothing: datasets infers the splits from the file names
            assert not infos and not configs
            continue
        assert infos[spec.config].features == spec.hf_features(), repo_id
        assert set(configs[spec.config]["data_files"][i]["split"] for i in range(len(spec.files))) == set(spec.files)


def test_tiny_gpt2_and_opt_have_the_hub_tokenizer_types_and_no_chat_template(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    texts = ["The plot was not bad at all, and the cast was superb."] * 50 + ["Return a new object."] * 50
    for repo_id in (hub.GPT2, hub.OPT_350M):
        spec, folder = rh.HUB_MODELS[repo_id], tmp_path / repo_id.replace("/", "--")
        files = rh.MODEL_BUILDERS[repo_id](texts)
        assert set(spec.files) <= set(files), repo_id
        for name in spec.files:
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(files[name])
        tokenizer = AutoTokenizer.from_pretrained(folder)
        assert type(tokenizer).__name__ == spec.tokenizer and not tokenizer.chat_template
        assert AutoConfig.from_pretrained(folder).architectures == [spec.architecture]
    assert "pytorch_model.bin" in rh.HUB_MODELS[hub.OPT_350M].files  # opt-350m predates safetensors


@pytest.mark.slow  # over 5 s
def test_glove_archive_has_the_real_members_and_the_chapter_words(tmp_path, tmp_cache):
    from course_lib.data.vectors import GLOVE_MEMBER, load_glove

    data = rh.glove_zip(["An excellent film about football and a bank, not boring at all."] * 3)
    path = tmp_path / "glove.6B.zip"
    path.write_bytes(data)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == [f"glove.6B.{d}d.txt" for d in (50, 100, 200, 300)]
        zf.extract(GLOVE_MEMBER, tmp_path)
    wv = load_glove(tmp_path / GLOVE_MEMBER)
    assert wv.dim == 100 and set(rh.GLOVE.must_have) <= set(wv.words)
