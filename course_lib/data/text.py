"""Tokenization without torchtext: a ``basic_english`` tokenizer and a vocabulary built from word vectors.

torchtext is dead since torch 2.4, but its two small pieces the source notebook used are easy to state exactly:
``basic_english`` lower-cases, splits off ``' . , ( ) ! ?`` as their own tokens, drops ``" ; :``, turns
``<br />`` into a space and splits on whitespace. The vocabulary is the word-vector file's word list with two
specials in front: ``<unk>`` (index 0, also the default for unknown words) and ``<pad>`` (index 1).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# (pattern, replacement) pairs, applied in order, exactly as torchtext's basic_english normalizer
_PATTERNS = [
    (re.compile(r"\'"), " '  "),
    (re.compile(r"\""), ""),
    (re.compile(r"\."), " . "),
    (re.compile(r"<br \/>"), " "),
    (re.compile(r","), " , "),
    (re.compile(r"\("), " ( "),
    (re.compile(r"\)"), " ) "),
    (re.compile(r"\!"), " ! "),
    (re.compile(r"\?"), " ? "),
    (re.compile(r"\;"), " "),
    (re.compile(r"\:"), " "),
    (re.compile(r"\s+"), " "),
]

UNK, PAD = "<unk>", "<pad>"


def basic_english(text: str) -> list[str]:
    """Split ``text`` into lower-case word and punctuation tokens (torchtext's ``basic_english``).

    >>> basic_english("Not bad, really!")
    ['not', 'bad', ',', 'really', '!']
    """
    if not isinstance(text, str):
        raise TypeError(f"basic_english expects a string, got {type(text).__name__}")
    line = text.lower()
    for pattern, replacement in _PATTERNS:
        line = pattern.sub(replacement, line)
    return line.split()


class Vocab:
    """Token <-> index mapping with a default index for unknown tokens.

    ``vocab(tokens)`` returns their ids; ``vocab["word"]`` one id; ``vocab.lookup_tokens(ids)`` goes back.
    """

    def __init__(self, itos: Sequence[str], default: str = UNK):
        self.itos = list(itos)
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary has duplicate tokens")
        if default not in self.stoi:
            raise ValueError(f"default token {default!r} is not in the vocabulary")
        self.default_index = self.stoi[default]

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __getitem__(self, token: str) -> int:
        return self.stoi.get(token, self.default_index)

    def __call__(self, tokens: Iterable[str]) -> list[int]:
        get, default = self.stoi.get, self.default_index
        return [get(t, default) for t in tokens]

    def lookup_tokens(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    @property
    def pad_index(self) -> int:
        return self.stoi[PAD]

    def __repr__(self) -> str:
        return f"Vocab(size={len(self)}, first={self.itos[:5]})"


def vocab_from_words(words: Sequence[str], specials: Sequence[str] = (UNK, PAD)) -> Vocab:
    """A :class:`Vocab` of ``specials`` followed by ``words`` (the word-vector file's order)."""
    clash = [s for s in specials if s in set(words)]
    if clash:
        raise ValueError(f"special tokens {clash} also occur as words")
    return Vocab([*specials, *words], default=specials[0])


class TextPipeline:
    """``text -> ids``: tokenize with :func:`basic_english`, map with ``vocab``, cut at ``max_len`` tokens.

    Truncation happens on the token list, so a 100k-token text costs only its first ``max_len`` ids.
    """

    def __init__(self, vocab: Vocab, max_len: int | None = None):
        if max_len is not None and max_len <= 0:
            raise ValueError(f"max_len must be positive, got {max_len}")
        self.vocab, self.max_len = vocab, max_len

    def __call__(self, text: str) -> list[int]:
        tokens = basic_english(text)
        if self.max_len is not None:
            tokens = tokens[: self.max_len]
        return self.vocab(tokens)
