"""Source fidelity: each chapter's ``full`` profile next to the source notebook's settings.

:data:`SOURCE_SETTINGS` holds, per chapter, what the source notebook (``shared/seed/source_notebooks.txt``) used
for each setting and a note; the comment after each value gives the line of ``source_notebooks.txt`` it comes
from. :func:`settings_table` puts it next to *our* value, which is **read** from the chapter module's
``config_for(Profile("full"))`` (or, where a setting is not a config field, from the code that fixes it), never
typed here, so the table cannot drift from the configs.

Where the source's setting is a defect (SGD with learning rate 1 on a Transformer, ``batch_first=False``), the note
says so; where it is a legitimate alternative, the note says how to set it.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Callable

import warnings

with warnings.catch_warnings():  # the first import of tqdm.auto warns about ipywidgets, with a machine-specific path
    warnings.simplefilter("ignore")
    from course_lib.chapters import ch02_inference, ch03_mlm, ch04_adapters, ch05_lora, ch06_finetune, ch06_sft
    from course_lib.experiments import encoder_transfer as ch01_transfer
from course_lib.config import Profile
from course_lib.env import quiet_hf
from course_lib.data import corpora
from course_lib.train import classifier, native

FULL = Profile("full")
CHAPTERS = ("01_transfer_learning", "02_hf_inference", "03_mlm_pretraining", "04_adapters", "05_lora",
            "06_supervised_finetuning")


# ---------------------------------------------------------------------------------------------- the source's side
# SOURCE_SETTINGS[chapter][setting] = (source value, note). "L123" = line 123 of shared/seed/source_notebooks.txt.
SGD_NOTE = ("defect: plain SGD at lr 1 on a Transformer (its StepLR is created but never stepped); we use AdamW "
            "with linear decay, learning rate picked on validation")

SOURCE_SETTINGS: dict[str, dict[str, tuple[str, str]]] = {
    "01_transfer_learning": {
        # L555-566: AG_NEWS() train split, 95/5 train/validation, then 5% of the train split kept (6,000);
        # L636: "This model was trained on a GPU for 100 epochs" (the loaded checkpoint, on the full set)
        "news train examples": ("6,000 in the notebook (5% of 120,000, L564-566); full set for the loaded checkpoint "
                                "(L636)", ""),
        # L218-225 and the printed len(split_train_) = 1250 (L226-227); L755 "fine-tuned on full IMDB training set"
        "sentiment train examples": ("1,250 in the notebook (5% of 25,000, L224-227); full set for the loaded "
                                     "checkpoints (L755, L859)", ""),
        # L218-222: 5% of the 25,000 training reviews; printed 1250 (L228-229)
        "sentiment validation examples": ("1,250 (5% of the train split, L218-222, L228-229)", ""),
        # L215 to_map_style_dataset(test_iter); printed len(test_dataset) 25000 (L230-231)
        "sentiment test examples": ("all 25,000 (L215, L230-231)", ""),
        # L624 epochs=2 in the notebook; L636 "trained on a GPU for 100 epochs"
        "news pretraining epochs": ("2 in the notebook (L624); 100 for the loaded checkpoint (L636)",
                                    "ours stop early when validation accuracy stalls (patience)"),
        # L503 epochs=3 (scratch), L741 / L848 epochs=2 (fine-tuning); L755, L859: 100 epochs on a GPU
        "fine-tuning epochs": ("3 / 2 in the notebook (L503, L741, L848); 100 for the loaded checkpoints "
                               "(L755, L859)", "ours stop early when validation accuracy stalls (patience)"),
        # L454-483: no early stopping; the best validation epoch is saved
        "early-stopping patience": ("none: runs every epoch, keeps the best validation epoch (L454-483)", ""),
        # L492-495, L618-621, L735-738, L842-845
        "optimiser": ("SGD + StepLR never stepped (L494-495)", SGD_NOTE),
        "pretraining learning rate": ("1 (L618-620)", SGD_NOTE),
        "fine-tuning learning rate": ("1 for every strategy (L492, L735, L842)", SGD_NOTE),
        # L251, L582: BATCH_SIZE = 32
        "batch size": ("32 (L251, L582)", "set TransferConfig(batch_size=32) to match it"),
        # L249 pad_sequence(batch_first=True): padded to the longest review of the batch, no cut;
        # L350 PositionalEncoding(max_len=vocab_size) = 400,002 rows
        "sequence length (tokens)": ("no cut: padded to the batch's longest review, 1,000+ tokens (L249); "
                                     "positional table of 400,002 rows (L350)",
                                     "defect: a 160 MB positional table and padding that is neither masked "
                                     "nor left out of the mean"),
        # no autocast / half / dtype anywhere in the notebook (L20-990)
        "precision": ("float32 (no autocast anywhere in the notebook)", "ours: bf16 autocast on a GPU that has it, "
                                                                       "float32 master weights"),
        # L199 GloVe(name="6B", dim=100), frozen (L344 freeze=True default)
        "word vectors": ("GloVe 6B, 100-d, frozen (L199, L344)", ""),
        # L333-337: nhead=2, dim_feedforward=128, num_layers=2
        "encoder (heads, feed-forward, layers)": ("2, 128, 2 (L335-337)", ""),
        # L353-358: nn.TransformerEncoderLayer(..., dropout=dropout) with dropout=0.1 (L338)
        "attention dropout": ("0.1 (L338, L357)", "an option: TransferConfig(model=TransformerConfig("
                                                  "attention_dropout=0.1))"),
        # L353-358: batch_first left at its default False while fed [batch, seq, d] (L367-370)
        "encoder batch_first": ("False (default, L353-358) with [batch, seq, d] input (L367-370)",
                                "defect: attention mixes the reviews of a batch instead of the tokens of one "
                                "review"),
    },
    "02_hf_inference": {
        # L1026-1027, L1103
        "sentiment model": ("distilbert-base-uncased-finetuned-sst-2-english (L1026-1027, L1103)", ""),
        # L1064, L1070, L1123
        "generation model": ("gpt2 (L1064, L1070, L1123)", ""),
        # no chat model in the source: its generation examples use gpt2 (L1123)
        "chat model": ("none: the source has no chat demo (gpt2 only, L1123)",
                       "a base model has no chat template; the chat demos need an instruction model"),
        # L1140 pipeline("text2text-generation", model="t5-small")
        "translation model": ("t5-small (L1140)", ""),
        # L1156 pipeline("fill-mask", model="bert-base-uncased")
        "fill-mask model": ("bert-base-uncased (L1156)", ""),
        # L1110 pipeline("text-classification", model="papluca/xlm-roberta-base-language-detection")
        "language-id model": ("papluca/xlm-roberta-base-language-detection (L1110)", ""),
        # no embeddings section in the source (L995-1180)
        "embeddings model": ("none: the source has no sentence-embedding section (L995-1180)", ""),
        # no torch_dtype in any from_pretrained/pipeline call (L1026-1156); transformers 4 loads float32
        "precision": ("float32 (transformers 4 default; no torch_dtype passed, L1026-1156)",
                      "pass dtype=torch.float32 to from_pretrained to match it"),
    },
    "03_mlm_pretraining": {
        # L1260 load_dataset("wikitext", "wikitext-2-raw-v1")
        "corpus": ("wikitext-2-raw-v1 (L1260)", "offline: IMDB reviews stand in"),
        # L1278-1279: .select(range(1000)) / .select(range(200)), empty lines included
        "training lines": ("first 1,000 lines, empty ones included (L1278)", "ours: every non-empty line"),
        "evaluation lines": ("first 200 test lines (L1279)", "ours: every non-empty validation/test line"),
        # L1339 train_new_from_iterator(vocab_size=30522); learnt 12,576 tokens (L1398 Embedding(12576, 768))
        "vocabulary size (asked)": ("30,522 (L1339); 12,576 learnt on 1,000 lines (L1398)", ""),
        # L1376-1381 BertConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
        "model size (hidden, layers, heads, feed-forward)": ("768, 12, 12, 3,072: BERT-base (L1378-1381)", ""),
        # L1456 padding="max_length", max_length=512, one line per example
        "sequence length (tokens)": ("512, each line padded to 512 (L1456)",
                                     "ours: lines concatenated and cut into full blocks, no padding"),
        # L1490 mlm_probability=0.15
        "masking probability": ("0.15 (L1490)", ""),
        # L1608-1611 TrainingArguments
        "epochs": ("10 (L1610)", ""),
        "optimiser": ("AdamW, linear decay (TrainingArguments defaults, L1605-1614)", ""),
        "learning rate": ("5e-5 (L1609)", "an option: MLMConfig(learning_rate=5e-5)"),
        "warm-up": ("none (TrainingArguments default, L1605-1614)", ""),
        "batch size": ("2 (L1611)", ""),
        # no fp16/bf16 in the TrainingArguments (L1605-1614)
        "precision": ("float32 (no fp16/bf16 in its TrainingArguments)", "make_trainer(..., mixed_precision=\"no\") to match it"),
    },
    "04_adapters": {
        # L1934-1940 (the same 95/5 then 5% cut as chapter 1), printed 1250 (L1941-1943)
        "sentiment train examples": ("1,250 in the notebook (L1939-1943); full set for the loaded model (L2790)", ""),
        # L2779 epochs=2; L2790 "fine-tuned on the full IMDB dataset for 100 epochs on a GPU"
        "adapter epochs": ("2 in the notebook (L2779); 100 for the loaded model (L2790)",
                           "ours stop early when validation accuracy stalls (patience)"),
        # L2773-2776
        "optimiser": ("SGD + StepLR never stepped (L2775-2776)", SGD_NOTE),
        "adapter learning rate": ("1 (L2773)", SGD_NOTE),
        # L1964 BATCH_SIZE = 32
        "batch size": ("32 (L1964)", "set TransferConfig(batch_size=32) to match it"),
        # L2669, L2676 Adapted(encoder.linear1 / linear2, bottleneck_size=24)
        "adapter bottleneck": ("24, on linear1 and linear2 of each layer (L2669, L2676)",
                               "an option: TransferConfig(adapter_bottleneck=24)"),
        # L1961 pad_sequence, no cut; L2015 max_len=vocab_size
        "sequence length (tokens)": ("no cut: padded to the batch's longest review (L1961)",
                                     "defect: padding neither masked nor left out of the mean"),
        "precision": ("float32 (no autocast anywhere in the notebook)", ""),
        # L2019-2026: TransformerEncoderLayer without batch_first
        "encoder batch_first": ("False (default, L2018-2024)", "defect: attention mixes the reviews of a batch"),
    },
    "05_lora": {
        # L3077-3087: 95/5 split, no 5% cut: printed 23750 / 1250 / 25000
        "sentiment train examples": ("23,750 (95% of 25,000, L3077-3087)", "ours: chapter 1's splits"),
        "sentiment validation examples": ("1,250 (L3077-3087)", "ours: chapter 1's splits"),
        # L3378 torch.load("my-model-agnews-freeze-false.pth"): trained elsewhere, epochs not given
        "news pretraining epochs": ("not given: a saved AG News checkpoint is loaded (L3378)", ""),
        # L3219, L3451 "300 epochs"; L3454 epochs=2 in the commented call
        "LoRA epochs": ("300 on a GPU (L3451); 2 in the commented call (L3454)",
                        "ours stop early when validation accuracy stalls (patience)"),
        # L3447-3450
        "optimiser": ("SGD + StepLR never stepped (L3449-3450)", "defect for a LoRA layer: plain SGD at lr 1 "
                                                                 "(never stepped StepLR); we use AdamW"),
        "LoRA learning rate": ("1 (L3447)", "learning rate picked on the validation split"),
        # L3102 BATCH_SIZE = 64
        "batch size": ("64 (L3102)", "set LoRAExperimentConfig(batch_size=64) to match it"),
        # L3134-3138: embedding 100 -> fc1 128 -> fc2
        "hidden width": ("128 (L3135)", ""),
        # L3414 LinearWithLoRA(model_lora.fc1, rank=2, alpha=0.1)
        "rank r": ("2 (L3414)", ""),
        # L3342-3348 x = alpha * (x @ A @ B): alpha multiplies directly (no / r)
        "lora_alpha (convention)": ("0.1, update = alpha * x A B (L3348, L3414)",
                                    "ours: update = (lora_alpha / r) * B A x (peft); the source's 0.1 is "
                                    "LoRAExperimentConfig(lora_alpha=0.1 * r), i.e. 0.2 at r = 2"),
        "scale on the update": ("0.1 (L3348, L3414)", "ours: lora_alpha / r; the source: alpha itself"),
        # L3144 the printed batch is [64, 968]
        "sequence length (tokens)": ("no cut: padded to the batch's longest review (968 tokens in the batch it shows)",
                                     "ours: chapter 1's cut"),
        "precision": ("float32 (no autocast anywhere in the notebook)", ""),
        # L3784 LinearWithLoRA(model.fc2, rank=2, alpha=0.1) on the CNN (digits -> 26 letters, L3729)
        "CNN rank r": ("2 (L3784)", ""),
        "CNN lora_alpha (convention)": ("0.1, multiplied directly (L3784)",
                                        "LoRAExperimentConfig(image_lora_alpha=0.1 * image_r) matches it"),
        "CNN epochs": ("none: the exercise builds the model only (L3729-3790)", ""),
    },
    "06_supervised_finetuning": {
        # part 1 -- L3898 load_dataset("yelp_review_full"); L3914-3915 select(range(1000)) / select(range(200))
        "classifier model": ("bert-base-cased (L3928, L4122)", ""),
        "classifier train examples": ("1,000 (L3914)", ""),
        "classifier test examples": ("200 (L3915)", ""),
        "classifier validation examples": ("none (L3914-3915)", ""),
        # L4126-4129
        "classifier optimiser": ("AdamW + LambdaLR linear decay (L4126, L4129)", ""),
        "classifier learning rate": ("5e-4 (L4126)",
                                     "10x the usual BERT range; the saved model scored 0.265 (L4231). "
                                     "FinetuneConfig(learning_rate=5e-4) to try it"),
        "classifier epochs": ("10 (L4127)", ""),
        "classifier batch size": ("2 (L4116)", ""),
        # L3932 padding="max_length", truncation=True -> model_max_length 512 (L3929)
        "classifier sequence length (tokens)": ("512, every review padded to 512 (L3929-3932)",
                                                "ours pads each batch to its own longest review"),
        "classifier precision": ("float32 (no autocast, L4122-4131)", ""),
        # part 2 -- L4240 guanaco train split (9,846 rows, L4250); L4257 opt-350m
        "SFT model": ("facebook/opt-350m (L4257)", ""),
        "SFT train dialogues": ("all 9,846 (L4240, L4250)", ""),
        # L4268-4272 DataCollatorForCompletionOnlyLM(instruction_template, response_template): every turn kept
        "SFT dialogue turns": ("every turn; loss on every assistant reply (L4268-4272)",
                               "ours: the first exchange only (prompt/completion; the collator no longer exists)"),
        # L4275-4283 SFTConfig
        "SFT epochs": ("10 (L4277)", ""),
        "SFT optimiser": ("AdamW, linear decay (SFTConfig defaults, L4275-4283)", ""),
        "SFT learning rate": ("2e-5 (L4278)", ""),
        "SFT batch size": ("2 (L4280)", ""),
        "SFT sequence length (tokens)": ("1,024 (L4282)", ""),
        "SFT fine-tuning": ("every weight (no peft, L4275-4290)", ""),
        "SFT precision": ("float32 (no fp16/bf16 in its SFTConfig)", ""),
        "SFT new tokens generated": ("70 (L4295, L4323)", ""),
    },
}


# ---------------------------------------------------------------------------------------------- our side

def _loop_optimiser(fn: Callable) -> str:
    """What a hand-written training loop uses, read from its code: ``AdamW, linear decay``."""
    code = inspect.getsource(fn)
    opt = re.search(r"torch\.optim\.(\w+)\(", code)
    sched = ", linear decay" if "get_linear_schedule_with_warmup" in code else ""
    return (opt.group(1) if opt else "?") + sched


def _trainer_optimiser() -> str:
    """The ``transformers.Trainer`` default optimiser (what chapters 3 and 6 leave unset)."""
    from transformers import TrainingArguments

    return f"AdamW ({TrainingArguments.__dataclass_fields__['optim'].default}), linear decay"


def _hf_load_dtype() -> str:
    """What ``ch02_inference.load`` gets when it passes no dtype: transformers 5 loads the stored dtype."""
    passes_dtype = "dtype" in inspect.signature(ch02_inference.load).parameters
    if passes_dtype:
        return "set by ch02_inference.load"
    major = int(version("transformers").split(".")[0])
    return "the checkpoint's stored dtype (dtype='auto')" if major >= 5 else "float32"


def _dialogue_turns() -> str:
    """How many assistant replies of a two-exchange dialogue end up in the trained completion."""
    from course_lib.data.corpora import ASSISTANT, HUMAN

    text = f"{HUMAN} q1{ASSISTANT} a1{HUMAN} q2{ASSISTANT} a2"
    completion = corpora.split_dialogue(text)["completion"]
    kept = sum(answer in completion for answer in ("a1", "a2"))
    return "the first exchange only" if kept == 1 else f"{kept} assistant replies"


def _mlm_precision() -> str:
    return inspect.signature(ch03_mlm.make_trainer).parameters["mixed_precision"].default


def _encoder_batch_first(cfg) -> bool:
    import torch

    model = ch01_transfer.TransformerClassifier(torch.zeros(4, 4), cfg.model, pad_index=1)
    return model.transformer_encoder.layers[0].self_attn.batch_first


@dataclass(frozen=True)
class Row:
    """One setting: ``read`` is a dotted path into the chapter's roots (``"cfg.batch_size"``,
    ``"models[sentiment]"``) or a function of the roots (for settings fixed in code, not in a config)."""

    setting: str
    read: str | Callable[[dict], Any]


def _roots(chapter: str) -> dict[str, Any]:
    """The objects the rows of ``chapter`` read from, each built from ``config_for(Profile("full"))``."""
    if chapter == "01_transfer_learning":
        return {"cfg": ch01_transfer.config_for(FULL)}
    if chapter == "02_hf_inference":
        return {"models": ch02_inference.HUB_MODELS}
    if chapter == "03_mlm_pretraining":
        return {"cfg": ch03_mlm.config_for(FULL), "corpus": corpora.HUB_CORPUS}
    if chapter == "04_adapters":
        return {"cfg": ch04_adapters.config_for(FULL)}
    if chapter == "05_lora":
        return {"cfg": ch05_lora.config_for(FULL), "ch01": ch01_transfer.config_for(FULL)}
    if chapter == "06_supervised_finetuning":
        return {"ft": ch06_finetune.config_for(FULL), "sft": ch06_sft.config_for(FULL)}
    raise KeyError(f"no settings table for chapter {chapter!r}; known: {', '.join(CHAPTERS)}")


ROWS: dict[str, list[Row]] = {
    "01_transfer_learning": [
        Row("news train examples", "cfg.news_sizes.train"),
        Row("sentiment train examples", "cfg.sentiment_sizes.train"),
        Row("sentiment validation examples", "cfg.sentiment_sizes.validation"),
        Row("sentiment test examples", "cfg.sentiment_sizes.test"),
        Row("news pretraining epochs", "cfg.pretrain_epochs"),
        Row("fine-tuning epochs", "cfg.finetune_epochs"),
        Row("early-stopping patience", "cfg.patience"),
        Row("optimiser", lambda r: _loop_optimiser(classifier.train_classifier)),
        Row("pretraining learning rate", "cfg.pretrain_learning_rate"),
        Row("fine-tuning learning rate", "cfg.learning_rates"),
        Row("batch size", "cfg.batch_size"),
        Row("sequence length (tokens)", "cfg.max_len"),
        Row("precision", "cfg.mixed_precision"),
        Row("word vectors", lambda r: "GloVe 6B, 100-d, frozen" if r["cfg"].model.freeze_embeddings
            else "GloVe 6B, 100-d, trained"),
        Row("encoder (heads, feed-forward, layers)",
            lambda r: f"{r['cfg'].model.nhead}, {r['cfg'].model.dim_feedforward}, {r['cfg'].model.num_layers}"),
        Row("attention dropout", "cfg.model.attention_dropout"),
        Row("encoder batch_first", lambda r: _encoder_batch_first(r["cfg"])),
    ],
    "02_hf_inference": [
        *(Row(f"{task} model", f"models[{task}]") for task in
          ("sentiment", "generation", "chat", "translation", "fill-mask", "language-id", "embeddings")),
        Row("precision", lambda r: _hf_load_dtype()),
    ],
    "03_mlm_pretraining": [
        Row("corpus", lambda r: f"{r['corpus'][1]} (SOURCE=hub)"),
        Row("training lines", "cfg.max_train_lines"),
        Row("evaluation lines", "cfg.max_eval_lines"),
        Row("vocabulary size (asked)", "cfg.vocab_size"),
        Row("model size (hidden, layers, heads, feed-forward)",
            lambda r: f"{r['cfg'].hidden_size}, {r['cfg'].num_hidden_layers}, {r['cfg'].num_attention_heads}, "
                      f"{r['cfg'].intermediate_size:,}"),
        Row("sequence length (tokens)", "cfg.block_size"),
        Row("masking probability", "cfg.mlm_probability"),
        Row("epochs", "cfg.epochs"),
        Row("optimiser", lambda r: _trainer_optimiser()),
        Row("learning rate", "cfg.learning_rate"),
        Row("warm-up", lambda r: f"{r['cfg'].warmup_ratio:g} of the steps"),
        Row("batch size", "cfg.batch_size"),
        Row("precision", lambda r: _mlm_precision()),
    ],
    "04_adapters": [
        Row("sentiment train examples", "cfg.sentiment_sizes.train"),
        Row("adapter epochs", "cfg.finetune_epochs"),
        Row("optimiser", lambda r: _loop_optimiser(classifier.train_classifier)),
        Row("adapter learning rate", "cfg.learning_rates[adapters]"),
        Row("batch size", "cfg.batch_size"),
        Row("adapter bottleneck", "cfg.adapter_bottleneck"),
        Row("sequence length (tokens)", "cfg.max_len"),
        Row("precision", "cfg.mixed_precision"),
        Row("encoder batch_first", lambda r: _encoder_batch_first(r["cfg"])),
    ],
    "05_lora": [
        Row("sentiment train examples", "ch01.sentiment_sizes.train"),
        Row("sentiment validation examples", "ch01.sentiment_sizes.validation"),
        Row("news pretraining epochs", "cfg.pretrain_epochs"),
        Row("LoRA epochs", "cfg.epochs"),
        Row("optimiser", lambda r: _loop_optimiser(classifier.train_classifier)),
        Row("LoRA learning rate", "cfg.learning_rates[lora]"),
        Row("batch size", "cfg.batch_size"),
        Row("hidden width", "cfg.hidden"),
        Row("rank r", "cfg.r"),
        Row("lora_alpha (convention)", lambda r: f"{_fmt(r['cfg'].lora_alpha)}, update = (alpha / r) * B A x"),
        Row("scale on the update", lambda r: r["cfg"].lora_alpha / r["cfg"].r),
        Row("sequence length (tokens)", "ch01.max_len"),
        Row("precision", lambda r: inspect.signature(classifier.train_classifier).parameters["mixed_precision"]
            .default),
        Row("CNN rank r", "cfg.image_r"),
        Row("CNN lora_alpha (convention)", lambda r: f"{_fmt(r['cfg'].image_lora_alpha)}, divided by r"),
        Row("CNN epochs", "cfg.image_epochs"),
    ],
    "06_supervised_finetuning": [
        Row("classifier model", "ft.hub_id"),
        Row("classifier train examples", "ft.sizes.train"),
        Row("classifier test examples", "ft.sizes.test"),
        Row("classifier validation examples", "ft.sizes.validation"),
        Row("classifier optimiser", lambda r: _loop_optimiser(native.train_native)),
        Row("classifier learning rate", "ft.learning_rate"),
        Row("classifier epochs", "ft.epochs"),
        Row("classifier batch size", "ft.batch_size"),
        Row("classifier sequence length (tokens)", "ft.max_length"),
        Row("classifier precision", "ft.mixed_precision"),
        Row("SFT model", "sft.hub_id"),
        Row("SFT train dialogues", "sft.sizes.train"),
        Row("SFT dialogue turns", lambda r: _dialogue_turns()),
        Row("SFT epochs", "sft.num_train_epochs"),
        Row("SFT optimiser", lambda r: _trainer_optimiser()),
        Row("SFT learning rate", "sft.learning_rate"),
        Row("SFT batch size", "sft.batch_size"),
        Row("SFT sequence length (tokens)", "sft.max_length"),
        Row("SFT fine-tuning", lambda r: f"LoRA r={r['sft'].lora_r}" if r["sft"].use_lora else "every weight"),
        Row("SFT precision", "sft.mixed_precision"),
        Row("SFT new tokens generated", "sft.max_new_tokens"),
    ],
}


def read_path(roots: dict[str, Any], path: str) -> Any:
    """Follow ``"root.attr.attr[key]"`` through ``roots`` (attributes, then ``[key]`` for a mapping)."""
    head, *attrs = path.split(".")
    name, key = re.fullmatch(r"([\w-]+)(?:\[([\w-]+)\])?", head).groups()
    value = roots[name] if key is None else roots[name][key]
    for attr in attrs:
        name, key = re.fullmatch(r"(\w+)(?:\[([\w-]+)\])?", attr).groups()
        value = getattr(value, name)
        if key is not None:
            value = value[key]
    return value


def _fmt(value: Any) -> str:
    """One cell: ``None`` -> ``all``, learning rates in short e-notation, thousands separated."""
    if value is None:
        return "all"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value and abs(value) < 0.1:
            mantissa, exp = f"{value:.2e}".split("e")
            return f"{mantissa.rstrip('0').rstrip('.')}e{int(exp)}"
        return f"{value:g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    if value == "no":  # a mixed_precision request of "no"
        return "float32"
    return str(value)


def ours(chapter: str) -> dict[str, str]:
    """``setting -> our full-profile value`` (formatted), read from the chapter's configs and code."""
    roots = _roots(chapter)
    return {row.setting: _fmt(read_path(roots, row.read) if isinstance(row.read, str) else row.read(roots))
            for row in ROWS[chapter]}


def settings_table(chapter: str) -> list[dict]:
    """Rows ``{"setting", "ours (full)", "source", "note"}`` for ``chapter`` (e.g. ``"01_transfer_learning"``),
    for :func:`course_lib.nbtools.table`."""
    with quiet_hf():  # reading transformers' defaults imports the trainer: no import-time chatter in the table
        values = ours(chapter)
    source = SOURCE_SETTINGS[chapter]
    return [{"setting": s, "ours (full)": v, "source": _without_line_refs(source[s][0]),
             "note": _without_line_refs(source[s][1])} for s, v in values.items()]


_LINE_REF = re.compile(r"L\d+(?:-\d+)?")


def _without_line_refs(text: str) -> str:
    """The text without the ``L123-456`` references to lines of the source notebooks' text (kept in this module's
    comments for maintainers; a reader of the book does not have that file)."""
    text = re.sub(r"\s*\((?:%s)(?:,\s*(?:%s))*\)" % (_LINE_REF.pattern, _LINE_REF.pattern), "", text)
    text = re.sub(r",\s*(?:%s)(?=[),;])" % _LINE_REF.pattern, "", text)
    return re.sub(r"\s*\(\s*\)", "", text).strip()


def settings_frame(chapter: str):
    """:func:`settings_table` as a ``pandas.DataFrame`` indexed by setting (an HTML table in the rendered book)."""
    import pandas as pd

    return pd.DataFrame(settings_table(chapter)).set_index("setting")

