"""No number measured by a run is typed into a chapter's prose: it is glued from the run (myst-nb ``glue``).

The rule, for the markdown of every chapter (code cells, inline code, math, headings, tables of settings and the
exercises are not prose and are skipped):

- a *measured-looking* number is a decimal with two or more digits after the point (``0.83``, ``2.09``), a share
  with one (``about 0.5``, ``0.7``: a number below 1 with one decimal; ``1.5`` or ``3.3`` are left alone, they are
  multiples and published figures far more often than measurements), a percentage with a fraction (``70.4%``), or a
  whole percentage that is not a round setting (``83%``; but ``15%`` of tokens masked or "below 15% of the encoder"
  are settings, see :data:`ROUND_PERCENTS`); a version number (``0.5.1``, ``v0.5``) is not a number here;
- it may stay typed only when it is a setting listed in :data:`ALLOWED`, or in a paragraph that quotes published
  numbers (it says "source", "reported" or "published") **and** it is one of the source's reported numbers in
  :data:`course_lib.fidelity.SOURCE_REPORTED`;
- anything else must come from the run through ``{glue:text}`name``` or ``{glue:}`name```.
"""

import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parent.parent / "book"
CHAPTERS = sorted(BOOK.glob("[0-9][0-9]_*.md"))
ALLOWED = {"0.15"}  # settings: the masking probability
ROUND_PERCENTS = {"5", "10", "15", "20", "25", "50", "80", "85", "90", "95", "100"}
NUMBER = re.compile(r"(?<![\w.])(\d+\.\d{2,}|\d+\.\d+\s?%|0\.\d|\d+\s?%)(?![\w.]*\w)")
SKIP_INLINE = [re.compile(p) for p in (r"\$\$.*?\$\$", r"\$[^$]*\$", r"\{glue:?\w*\}`[^`]*`", r"\{\w+\}`[^`]*`",
                                       r"`[^`]*`", r"\]\([^)]*\)")]


def prose_paragraphs(md_text: str):
    """(first line number, paragraph) of the prose of a jupytext MyST chapter, up to its exercises."""
    paragraph, start = [], 0
    for lineno, text in prose_lines(md_text):
        if text is None:
            if paragraph:
                yield start, " ".join(paragraph)
            paragraph = []
            continue
        if not paragraph:
            start = lineno
        paragraph.append(text)
    if paragraph:
        yield start, " ".join(paragraph)


def prose_lines(md_text: str):
    """(line number, prose text) per line; ``None`` text marks a paragraph break."""
    lines = md_text.splitlines()
    if lines and lines[0].strip() == "---":  # jupytext front matter
        end = lines.index("---", 1)
        lines = [""] * (end + 1) + lines[end + 1:]
    in_code, in_math = False, False
    for lineno, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("## Exercises"):
            return
        if stripped.startswith("```"):
            in_code = not in_code if stripped == "```" or in_code is False else False
            continue
        if stripped == "$$":
            in_math = not in_math
            continue
        if in_code or in_math or stripped.startswith(("#", "|", ":", "---", "+++")) or not stripped:
            yield lineno, None
            continue
        text = line
        for pattern in SKIP_INLINE:
            text = pattern.sub(" ", text)
        yield lineno, text


def _source_reported() -> set[str]:
    from course_lib.fidelity import SOURCE_REPORTED

    return set(SOURCE_REPORTED)


def untyped_numbers(md_text: str, reported: set[str] | None = None) -> list[str]:
    """Measured-looking numbers typed into prose. In a paragraph that quotes the source, a number must be one the
    source reported (:data:`course_lib.fidelity.SOURCE_REPORTED`, the one table of them, each with where
    the source printed it); elsewhere it must be glued."""
    reported = _source_reported() if reported is None else reported
    found = []
    for lineno, text in prose_paragraphs(md_text):
        quotes_source = re.search(r"\bsource\b|\breported\b|\bpublished\b|source's", text, re.IGNORECASE)
        for number in NUMBER.findall(text):
            plain = number.rstrip("% ").strip()
            if plain in ALLOWED or (number.endswith("%") and plain in ROUND_PERCENTS):
                continue
            if quotes_source and number.replace(" ", "") in reported | {n.rstrip("%") for n in reported}:
                continue
            why = "not in SOURCE_REPORTED" if quotes_source else "typed"
            found.append(f"line {lineno}: {number!r} ({why}) in {text.strip()[:100]!r}")
    return found


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_prose_quotes_no_typed_measurement(chapter):
    found = untyped_numbers(chapter.read_text(encoding="utf-8"))
    assert not found, (f"{chapter.name}: numbers typed into prose; glue them from the run "
                       "(myst_nb.glue + {glue:text}`name`) or quote them as the source's:\n" + "\n".join(found))


def test_the_rule_catches_a_typed_accuracy_and_lets_glued_and_source_numbers_pass():
    text = ("Full fine-tuning reaches 0.704 here.\n\n"
            "It reaches {glue:text}`ft_acc` here.\n\n"
            "The source notebook reported\n86% on the full data.\n\n"
            "Masking 15% of the tokens.\n\n"
            "```{code-cell} ipython3\nprint(0.5)\n```\n\n"
            "The masking probability is 0.15, and $\\alpha = 0.1$.\n")
    found = untyped_numbers(text, reported={"86%"})
    assert len(found) == 1 and "'0.704'" in found[0]
    # a source paragraph is checked too: a number the source never reported is caught
    found = untyped_numbers("The source's BERT reached about 0.50 on Yelp ratings.\n", reported={"0.265"})
    assert len(found) == 1 and "SOURCE_REPORTED" in found[0]
    assert not untyped_numbers("The source's BERT scored 0.265 on Yelp.\n", reported={"0.265"})


def test_the_rule_catches_a_one_decimal_share_and_leaves_versions_and_multiples_alone():
    found = untyped_numbers("The tuned model scores about 0.5 here, and 0.7% of the answers end early.\n",
                            reported=set())
    assert [f.split("'")[1] for f in found] == ["0.5", "0.7%"], found
    assert not untyped_numbers("Install torch 0.5.1 (or v0.5), read 3.3 billion words, sample at 1.5.\n",
                               reported=set())
    assert not untyped_numbers("Chance is 0.2 with 5 classes, as the source reported.\n", reported={"0.2"})
    assert not untyped_numbers("A near-twin has a token F1 of {glue:text}`twin_threshold` or more.\n",
                               reported=set())
