"""Word vectors in the GloVe text format (``word v1 ... vD`` per line).

The source notebook used GloVe 6B 100-d (400,000 words). :func:`load_glove` reads that file format fast: the
first parse writes a binary cache next to it (``.npy`` + word list), so later loads take a fraction of a second,
and ``max_words`` reads only the most frequent words (GloVe files are sorted by frequency). A line with the wrong
number of values raises an error that names the line, instead of being silently mis-parsed.

Offline, :func:`offline_glove_file` exports *real* pretrained vectors to the same format: the input-embedding rows
of all-MiniLM-L6-v2 for its whole-word tokens (about 21,000 words), reduced from 384 to 100 dimensions with PCA.
They go through exactly the same loader as the real GloVe file.

With ``SOURCE=hub`` and no ``GLOVE_PATH``, :func:`hub_glove_file` gets GloVe from the Hugging Face Hub: the model
repository ``stanfordnlp/glove`` is Stanford NLP's own upload of the GloVe releases, and its ``glove.6B.zip`` is the
archive the source notebook downloaded from :data:`GLOVE_6B_URL` (822 MiB, 862,182,613 bytes; it holds
``glove.6B.{50,100,200,300}d.txt``). ``huggingface_hub.hf_hub_download`` fetches it once into the Hugging Face cache
(with a progress bar, resuming an interrupted download, checking its size), or finds it there (a previous download,
``hf download stanfordnlp/glove glove.6B.zip``, or ``HF_HUB_OFFLINE=1`` with a prepared cache). The cache names the
archive's blob after its sha256 (the hub's LFS etag); the archive is checked against it before
``glove.6B.100d.txt`` (347 MB) is extracted once into the course cache. ``GLOVE_PATH`` (or ``glove_path=``) still
overrides all of this.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_lib import hub_ids
from course_lib.config import check_source
from course_lib.env import cache_dir, cache_key, file_sha256, publish
from course_lib.hub import minilm_dir

GLOVE_6B_URL = "https://nlp.stanford.edu/data/glove.6B.zip"  # contains glove.6B.100d.txt
GLOVE_HUB_REPO = hub_ids.GLOVE  # a model repository on the Hugging Face Hub (Stanford NLP's upload)
GLOVE_HUB_FILE = "glove.6B.zip"  # the same archive as GLOVE_6B_URL
GLOVE_HUB_BYTES = 862_182_613  # its size: what a first SOURCE=hub run of chapters 1, 4, 5 downloads
GLOVE_MEMBER = "glove.6B.100d.txt"  # the member the chapters read: 400,000 words x 100 dims, 347 MB
OFFLINE_DIM = 100
EXPORT_VERSION = "v1"  # bump when offline_glove_file changes what it writes


@dataclass
class WordVectors:
    """Words and their vectors: ``vectors[i]`` belongs to ``words[i]``."""

    words: list[str]
    vectors: np.ndarray  # (V, D) float32

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words x {self.dim} dims)"


def _cache_key(path: Path, max_words: int | None) -> str:
    st = path.stat()
    return cache_key("glove-parsed", path.resolve(), st.st_size, st.st_mtime_ns, max_words)


def load_glove(path: str | os.PathLike, *, max_words: int | None = None, errors: str = "raise",
               use_cache: bool = True) -> WordVectors:
    """Read a GloVe text file.

    Args:
        path: the ``.txt`` file (e.g. ``glove.6B.100d.txt``).
        max_words: read only the first ``max_words`` lines (the most frequent words), or all when ``None``.
        errors: ``"raise"`` (default) stops at the first malformed line; ``"skip"`` skips malformed lines and
            warns once with their count and first line numbers.
        use_cache: write/read a binary copy in the course cache so the second load is instant.

    Returns:
        :class:`WordVectors` with float32 vectors of shape ``(V, D)``; ``D`` is taken from the first line.
    """

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No GloVe file at {path}. Expected the text format `word v1 ... vD` per line, "
                                f"e.g. glove.6B.100d.txt from {GLOVE_6B_URL}")
    if errors not in ("raise", "skip"):
        raise ValueError(f"Unknown errors={errors!r}; choose one of: raise, skip")
    if max_words is not None and (not isinstance(max_words, int) or isinstance(max_words, bool) or max_words <= 0):
        raise ValueError(f"max_words must be a positive integer (or None for all words), got {max_words!r}")
    cache = cache_dir("vectors", "parsed") / _cache_key(path, max_words) if use_cache else None
    if cache is not None and (cache.with_suffix(".npy")).exists():
        words = cache.with_suffix(".words").read_text(encoding="utf-8").split("\n")
        return WordVectors(words, np.load(cache.with_suffix(".npy")))

    words: list[str] = []
    rows: list[np.ndarray] = []
    bad: list[int] = []
    dim = None
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if max_words is not None and len(words) >= max_words:
                break
            line = line.rstrip("\n").rstrip(" ")
            if not line:
                continue
            if dim is None:
                dim = len(line.split(" ")) - 1
                if dim < 1:
                    raise ValueError(f"{path}:{lineno}: the first line has no vector values")
            # rsplit keeps words that contain spaces (they occur in some GloVe releases) in one piece
            parts = line.rsplit(" ", dim)
            try:
                if len(parts) != dim + 1 or not parts[0]:
                    raise ValueError
                vec = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                if errors == "raise":
                    found = len(line.split(" ")) - 1
                    raise ValueError(f"{path}:{lineno}: malformed line: expected a word and {dim} values, "
                                     f"found {found} values (line starts {line[:40]!r}). "
                                     "Pass errors='skip' to skip such lines.") from None
                bad.append(lineno)
                continue
            words.append(parts[0])
            rows.append(vec)
    if not rows:
        raise ValueError(f"{path}: no word vectors found")
    if bad:
        warnings.warn(f"{path}: skipped {len(bad)} malformed line(s), first at line(s) {bad[:5]}", stacklevel=2)
    vectors = np.stack(rows)
    if cache is not None:  # the word list first: the .npy file is what a later load looks for
        with publish(cache.with_suffix(".words")) as staging:
            staging.write_text("\n".join(words), encoding="utf-8")
        with publish(cache.with_suffix(".npy")) as staging, staging.open("wb") as f:
            np.save(f, vectors)
    return WordVectors(words, vectors)


def write_glove(path: str | os.PathLike, words: list[str], vectors: np.ndarray, decimals: int = 5) -> Path:
    """Write ``words`` and ``vectors`` in the GloVe text format."""
    path = Path(path)
    if len(words) != len(vectors):
        raise ValueError(f"{len(words)} words but {len(vectors)} vectors")
    with publish(path) as staging, staging.open("w", encoding="utf-8") as f:
        for word, vec in zip(words, vectors):
            if " " in word or not word:
                raise ValueError(f"cannot write word {word!r}: words must be non-empty and contain no spaces")
            f.write(word + " " + " ".join(f"{x:.{decimals}f}" for x in vec) + "\n")
    return path


def minilm_whole_words(vocab_lines: list[str]) -> list[int]:
    """Indices of MiniLM WordPiece entries that are whole words or punctuation (no ``##`` pieces, specials)."""
    keep = []
    for i, tok in enumerate(vocab_lines):
        if tok.startswith("##") or (tok.startswith("[") and tok.endswith("]")):
            continue
        if tok.isalpha() and tok.isascii() or tok in {".", ",", "!", "?", "'", "(", ")", "-"} or tok.isdigit():
            keep.append(i)
    return keep


def offline_glove_file(dim: int = OFFLINE_DIM) -> Path:
    """Export real offline word vectors in GloVe format (once, cached) and return the file path.

    The vectors are all-MiniLM-L6-v2's input embeddings for whole-word tokens, projected onto their top ``dim``
    principal components (PCA via SVD, deterministic up to sign, which we fix) and scaled to GloVe's typical
    spread (std ~0.4), so that the chapter-1 model sees inputs of the usual magnitude.
    """
    from safetensors.numpy import load_file

    if not isinstance(dim, int) or isinstance(dim, bool) or dim <= 0:
        raise ValueError(f"dim must be a positive integer, got {dim!r}")
    model_dir = minilm_dir()
    # keyed by the exporter's version and the weights' size, so a changed export or package is never read stale
    weights_size = (model_dir / "model.safetensors").stat().st_size
    out = cache_dir("vectors") / f"minilm-whole-words-{EXPORT_VERSION}-{weights_size}.{dim}d.txt"
    if out.exists():
        return out
    vocab_lines = (model_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    weights = load_file(str(model_dir / "model.safetensors"))
    key = next(k for k in weights if k.endswith("word_embeddings.weight"))
    emb = weights[key].astype(np.float64)
    keep = minilm_whole_words(vocab_lines[: emb.shape[0]])
    x = emb[keep] - emb[keep].mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    comps = vt[:dim]
    comps *= np.sign(comps[np.arange(dim), np.abs(comps).argmax(axis=1)])[:, None]  # a fixed sign per axis
    reduced = x @ comps.T
    reduced *= 0.4 / reduced.std()
    return write_glove(out, [vocab_lines[i] for i in keep], reduced.astype(np.float32))


def _is_sha256(etag: str | None) -> bool:
    return bool(etag) and len(etag) == 64 and all(c in "0123456789abcdef" for c in etag)


def hub_glove_zip() -> tuple[Path, str | None]:
    """``(path, sha256 or None)`` of ``glove.6B.zip`` in the Hugging Face cache, downloaded once when it is not there.

    ``huggingface_hub.hf_hub_download`` does the download (resumable, size-checked, cached). The cache names an LFS
    file's blob after its sha256 (the hub's etag), which is returned for :func:`hub_glove_file` to check. With
    ``HF_HUB_OFFLINE=1`` only the cache is read, and a missing archive raises an error naming the fixes.
    """
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import LocalEntryNotFoundError

    if not isinstance(try_to_load_from_cache(GLOVE_HUB_REPO, GLOVE_HUB_FILE), str) and not constants.HF_HUB_OFFLINE:
        print(f"Downloading {GLOVE_HUB_FILE} ({GLOVE_HUB_BYTES / 2**20:,.0f} MiB) from the Hugging Face Hub "
              f"({GLOVE_HUB_REPO}) into {constants.HF_HUB_CACHE} once; an interrupted download resumes where it "
              "stopped.", flush=True)
    try:
        path = Path(hf_hub_download(GLOVE_HUB_REPO, GLOVE_HUB_FILE))
    except LocalEntryNotFoundError as err:
        raise FileNotFoundError(
            f"SOURCE=hub needs the GloVe 6B vectors, but {GLOVE_HUB_REPO}/{GLOVE_HUB_FILE} is not in the Hugging Face "
            f"cache ({constants.HF_HUB_CACHE}) and the hub cannot be asked (HF_HUB_OFFLINE is set, or no network). "
            f"Run once with the network (it downloads {GLOVE_HUB_BYTES / 2**20:,.0f} MiB), or "
            f"`hf download {GLOVE_HUB_REPO} {GLOVE_HUB_FILE}`, or set GLOVE_PATH=/path/to/{GLOVE_MEMBER}.") from err
    blob = path.resolve().name
    return path, blob if _is_sha256(blob) else None


def hub_glove_file(member: str = GLOVE_MEMBER) -> Path:
    """``member`` of the hub's ``glove.6B.zip`` (see :func:`hub_glove_zip`), extracted once into the course cache.

    The archive's sha256 is checked before the first extraction; the extracted file is keyed by it.
    """
    import zipfile

    archive, sha = hub_glove_zip()
    key = sha[:16] if sha else f"{archive.stat().st_size}-{archive.stat().st_mtime_ns}"
    out = cache_dir("vectors", "glove.6B", key) / member
    if out.exists():
        return out
    if sha is not None and file_sha256(archive) != sha:
        raise ValueError(f"{archive} does not have the sha256 {sha[:12]}... it was published with: delete it and "
                         "run again to download it afresh")
    with zipfile.ZipFile(archive) as zf:
        if member not in zf.namelist():
            raise FileNotFoundError(f"{archive} has no {member}; it holds {', '.join(zf.namelist())}")
        with zf.open(member) as src, publish(out) as staging, staging.open("wb") as dst:
            while block := src.read(1 << 20):
                dst.write(block)
    return out


def get_word_vectors(source: str, *, glove_path: str | os.PathLike | None = None,
                     max_words: int | None = None) -> WordVectors:
    """The chapter word vectors: GloVe 6B-100d (hub) or the offline MiniLM export.

    With ``source="hub"`` the file is ``glove_path``, else ``$GLOVE_PATH``, else ``glove.6B.100d.txt`` from the
    hub's ``stanfordnlp/glove`` (:func:`hub_glove_file`: downloaded once, 822 MiB, then cached).
    """
    if check_source(source) == "offline":
        return load_glove(offline_glove_file(), max_words=max_words)
    glove_path = glove_path or os.environ.get("GLOVE_PATH") or hub_glove_file()
    return load_glove(glove_path, max_words=max_words)
