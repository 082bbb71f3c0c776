"""Regenerate the frozen offline SFT dialogues, ``course_lib/datafiles/docs_qa/{train,test}.jsonl``.

The files hold *real* questions and answers taken from CPython's own documentation: ``What does json.dumps do?``
answered by the opening sentences of ``json.dumps.__doc__``, and questions about the language-reference topics of
``pydoc_data.topics``, written in the guanaco text format ``### Human: <question>### Assistant: <answer>``
(``{"text": ...}`` per line, the schema of ``timdettmers/openassistant-guanaco``).

Docstrings differ between Python builds, so the course does not scrape them at run time: this script was run once
(CPython 3.11.7) and its output committed; ``course_lib.data.corpora.load_dialogues`` reads the files and checks their
sha256 (``course_lib.data.corpora.DOCS_QA_SHA256``). Running it on another interpreter may give other pairs; then update
the hashes in ``course_lib/data/corpora.py`` and ``tests/test_sft.py`` and re-execute chapter 6.

Usage: ``python scripts/make_docs_qa.py [--check]`` (``--check`` only compares with the committed files).
"""

from __future__ import annotations

import inspect
import json
import random
import re
import sys
import warnings

from course_lib.data.corpora import DOCS_QA_DIR, format_dialogue

DOC_MODULES = (
    "base64", "bisect", "calendar", "collections", "colorsys", "copy", "csv", "difflib", "filecmp", "fnmatch",
    "functools", "glob", "gzip", "heapq", "html", "inspect", "itertools", "json", "keyword", "linecache", "math",
    "operator", "os", "os.path", "pathlib", "pprint", "random", "re", "secrets", "shlex", "shutil", "statistics",
    "string", "tempfile", "textwrap", "time", "unicodedata", "urllib.parse", "uuid", "warnings", "zlib",
)
DOC_BUILTIN_TYPES = ("str", "bytes", "list", "dict", "set", "int", "float", "tuple")
MIN_ANSWER_CHARS, MAX_ANSWER_CHARS = 25, 220


def _clean_doc_text(text: str) -> str:
    """Docstring / reST markup to plain prose: ``x`` -> x, :func:`x` -> x, "x" quoting of the reference kept."""
    text = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", text)
    text = re.sub(r"`+([^`]+)`+", r"\1", text)
    return re.sub(r"\s+", " ", text).strip()


def _first_sentences(paragraph: str, max_chars: int = MAX_ANSWER_CHARS) -> str:
    """The opening sentences of ``paragraph`` that fit in ``max_chars`` (at least the first one)."""
    sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", paragraph)
    out = sentences[0]
    for s in sentences[1:]:
        if len(out) + 1 + len(s) > max_chars:
            break
        out += " " + s
    return out


def _clean_answer(paragraph: str) -> str | None:
    """A clean answer from a docstring's first paragraph, or ``None`` when it is not usable prose."""
    text = _first_sentences(_clean_doc_text(paragraph))
    if text.endswith(":"):
        text = text[:-1] + "."
    ok = (MIN_ANSWER_CHARS <= len(text) <= MAX_ANSWER_CHARS and text[0].isupper() and text.endswith(".")
          and "::=" not in text and ">>>" not in text and "deprecated" not in text.lower()
          and "(" not in text.split(" ")[0])  # not a signature line such as "dumps(obj, ...)"
    return text if ok else None


def _documented_objects():
    """``(qualified name, object)`` for the public functions of :data:`DOC_MODULES` and builtin-type methods."""
    import importlib

    for module_name in DOC_MODULES:
        module = importlib.import_module(module_name)
        for name in sorted(vars(module)):
            obj = getattr(module, name)
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isbuiltin(obj)):
                continue
            if getattr(obj, "__module__", None) not in (module.__name__, module_name, None) and not \
                    str(getattr(obj, "__module__", "")).lstrip("_").startswith(module_name.split(".")[0]):
                continue  # re-exported from another module: ask about it where it is defined
            yield f"{module_name}.{name}", obj
    import builtins

    for type_name in DOC_BUILTIN_TYPES:
        cls = getattr(builtins, type_name)
        for name in sorted(vars(cls)):
            if not name.startswith("_"):
                yield f"{type_name}.{name}", getattr(cls, name)


def _topic_pairs() -> list[tuple[str, str]]:
    """Questions about the language reference topics shipped in ``pydoc_data.topics``."""
    from pydoc_data.topics import topics

    pairs = []
    for key in sorted(topics):
        lines = topics[key].strip().splitlines()
        if len(lines) < 3 or not set(lines[1].strip()) <= set("*=-") or not lines[1].strip():
            continue
        title = _clean_doc_text(lines[0]).rstrip(".")
        body = "\n".join(lines[2:]).strip()
        paragraph = body.split("\n\n")[0]
        answer = _clean_answer(paragraph)
        if answer and len(title) < 60:
            title = "the" + title[3:] if title.startswith("The ") else title
            pairs.append((f"What does the Python language reference say about {title}?", answer))
    return pairs


def docs_qa_pairs() -> list[tuple[str, str]]:
    """Every clean ``(question, answer)`` pair from CPython's docstrings and reference topics, in a fixed order.

    Filters: the answer is the docstring's first paragraph cut to its opening sentences (25-220 characters),
    starts with a capital letter, ends with a full stop, has no signature line, grammar rule or doctest, and
    every answer and question appears once (aliases such as ``os.path.join``/``posixpath.join`` are dropped).
    """
    pairs, seen_q, seen_a = [], set(), set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        candidates = [(f"What does {name} do?", inspect.getdoc(obj) or "") for name, obj in _documented_objects()]
    for question, doc in candidates:
        answer = _clean_answer(doc.split("\n\n")[0]) if doc else None
        if answer and question not in seen_q and answer not in seen_a:
            pairs.append((question, answer))
            seen_q.add(question)
            seen_a.add(answer)
    for question, answer in _topic_pairs():
        if answer not in seen_a:
            pairs.append((question, answer))
            seen_a.add(answer)
    return pairs


def docs_qa_texts(seed: int = 0, test_fraction: float = 0.15) -> dict[str, str]:
    """Shuffle :func:`docs_qa_pairs` with ``seed``, split off ``test_fraction``: the ``train``/``test``
    JSON-lines texts, per split."""
    pairs = docs_qa_pairs()
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_test = max(1, round(test_fraction * len(pairs)))
    chosen = {"test": order[:n_test], "train": order[n_test:]}
    texts = {split: "".join(json.dumps({"text": format_dialogue(*pairs[i])}, ensure_ascii=False) + "\n"
                            for i in idx) for split, idx in chosen.items()}
    return texts


def main(argv: list[str]) -> int:
    texts = docs_qa_texts()
    for split, text in texts.items():
        path = DOCS_QA_DIR / f"{split}.jsonl"
        if "--check" in argv:
            same = path.exists() and path.read_text(encoding="utf-8") == text
            print(f"{path.name}: {'identical' if same else 'DIFFERENT'} ({text.count(chr(10))} dialogues)")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({text.count(chr(10))} dialogues)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
