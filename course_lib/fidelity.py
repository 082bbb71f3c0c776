"""Source fidelity: each chapter's ``fast`` and ``full`` profiles next to the source notebook's settings.

The source notebooks: *The Transfer Learning Playbook: Pre-training and Fine-tuning Transformers* (chapter 1),
*The Hugging Face NLP Cookbook: Transformer Inference* (2), *Pre-training a Language Model from Scratch with
Hugging Face* (3), *Efficient Transformer Fine-Tuning: A Deep Dive into PEFT with Adapters* (4), *Mastering PEFT:
A Deep Dive into LoRA from Scratch* (5) and *The Applied Transformer: Fine-Tuning for Classification &
Conversation* (6) (:data:`SOURCE_NOTEBOOKS`).

:data:`SOURCE_SETTINGS` holds, per chapter, what the source notebook used for each setting and a note; the comment
after each value gives the line of the text export of the notebooks (kept with the project's design notes, not in
this repository) it comes from. :data:`SOURCE_REPORTED` is the one table of numbers the source notebooks printed
or stated, which the chapters may quote (``tests/test_prose_numbers.py`` checks every number in a paragraph that
quotes the source against it). :func:`settings_table` puts the source's setting next to *our* values, which are
**read** from the chapter module's ``config_for(Profile("fast"))`` and ``config_for(Profile("full"))`` (or, where a
setting is not a config field, from the code that fixes it), never typed here, so the table cannot drift from the
configs.

Where the source's setting is a defect (SGD with learning rate 1 on a Transformer, ``batch_first=False``), the note
says so; where it is a legitimate alternative, the note says how to set it.
"""

from __future__ import annotations

import inspect
import re
import warnings
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any, Callable

with warnings.catch_warnings():  # the first import of tqdm.auto warns about ipywidgets, with a machine-specific path
    warnings.simplefilter("ignore")
    from course_lib.chapters import ch02_inference, ch04_adapters, ch05_lora, ch06_finetune, ch06_sft
    from course_lib.experiments import encoder_transfer as ch01_transfer
    from course_lib.experiments import mlm as ch03_mlm
from course_lib.config import Profile
from course_lib.data import corpora
from course_lib.env import quiet_hf
from course_lib.train import classifier, native

FULL = Profile("full")
FAST = Profile("fast")
SOURCE_NOTEBOOKS = {
    "01_transfer_learning": "The Transfer Learning Playbook: Pre-training and Fine-tuning Transformers",
    "02_hf_inference": "The Hugging Face NLP Cookbook: Transformer Inference",
    "03_mlm_pretraining": "Pre-training a Language Model from Scratch with Hugging Face",
    "04_adapters": "Efficient Transformer Fine-Tuning: A Deep Dive into PEFT with Adapters",
    "05_lora": "Mastering PEFT: A Deep Dive into LoRA from Scratch",
    "06_supervised_finetuning": "The Applied Transformer: Fine-Tuning for Classification & Conversation",
}

# ---------------------------------------------------------------------------------------------- what it reported
# SOURCE_REPORTED[number as the book writes it] = where the source printed or stated it. A paragraph of the book
# that quotes the source may type only these numbers (tests/test_prose_numbers.py).
SOURCE_REPORTED: dict[str, str] = {
    "0.265": ("ch. 6 (The Applied Transformer): Yelp test accuracy of the saved BERT, printed 0.26499998569488525 "
              "(L4231)"),
    "0.2": "ch. 6: chance for 5 balanced classes (not printed: 1/5)",
    "0.42": "ch. 2 (Cookbook): fill-mask score of 'paris', printed 0.41678863763809204 (L1172)",
    "83%": "ch. 1/4 (Playbook, Adapters): test accuracy of the scratch model, stated (L540, L2182)",
    "86%": "ch. 1/4: test accuracy of full fine-tuning, stated (L770, L2384); adapters 'roughly 86%' (L2877)",
    "64%": "ch. 1: test accuracy of the last-layer-only model, stated (L872)",
    "85%": "ch. 1/4: validation accuracy of the scratch model, 'over 85%' (L529, L2174)",
    "90%": "ch. 1/4: AG News validation accuracy, 'over 90%' (L643, L2280)",
    "66%": "ch. 5 (LoRA): test accuracy of the frozen-embedding baseline, stated (L3241)",
    "3%": "ch. 5: LoRA's gain, 'a 3% absolute improvement' (L2921, L3718)",
    "2.09": "published, not printed by the source: wikitext-2's training split, 2,088,628 tokens (Merity et al. "
            "2016), quoted in ch. 3 next to the source's first 1,000 lines",
    "69.2": "summary plot: accuracy typed by hand (L4366)",
    "85.6": "summary plot: accuracy typed by hand (L4366)",
    "0.16": "ch. 3: bert-base-uncased fill-mask score of 'great' (L1693)",
    "0.06": "ch. 3: the scratch model's score of '/' (L1668)",
    "0.05": "ch. 3: the scratch model's score of '##ular' (L1669)",
}
CHAPTERS = ("01_transfer_learning", "02_hf_inference", "03_mlm_pretraining", "04_adapters", "05_lora",
            "06_supervised_finetuning")


# ---------------------------------------------------------------------------------------------- the source's side
# SOURCE_SETTINGS[chapter][setting] = (source value, note). "L123" = line 123 of shared/seed/source_notebooks.txt.
WORD_ROWS_SOURCE = ("vocab(glove.stoi, specials=('<unk>', '<pad>')) puts the specials at ids 0-1, but "
                    "Embedding.from_pretrained(glove.vectors) has no rows for them (L203, L344)")
WORD_ROWS_NOTE = "defect: every word reads the vector of the word two rows further on"
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
        # L203 vocab(glove.stoi, 0, specials=('<unk>', '<pad>')): specials at ids 0-1, words from id 2;
        # L344 nn.Embedding.from_pretrained(glove_embedding.vectors): 400,000 rows, word i at row i (printed L886)
        "word-vector rows": (WORD_ROWS_SOURCE, WORD_ROWS_NOTE),
        "gradient clipping (max norm)": ("0.1 (L470)", "ours clip at the norm in the table"),
        "weight decay": ("none (plain SGD, L494)", ""),
        # L877-990: Net(num_class=4) built fresh, every weight frozen, linear2 unfrozen, classifier Linear(100, 3);
        # no load_state_dict and no train_model call follow before the notebook ends
        "partial unfreezing": ("a fresh model: never loads the news weights, a 3-class head, never trained "
                               "(L877-990)", "defect: the source has no partial-unfreezing result"),
        "test loader": ("shuffled (shuffle=True, L260)", "harmless for accuracy; ours keeps a fixed order"),
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
        # L1083-1090 model.generate(max_length=50), no do_sample: greedy; L1125-1128 pipeline max_length=50, but the
        # printed warning says max_new_tokens (=256) takes precedence
        "decoding": ("greedy, max_length=50 counting the prompt (L1083-1090); the pipeline's max_length=50 was "
                     "overridden by max_new_tokens=256, as its printed warning says (L1125-1128)", ""),
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
        "precision": ("float32 (no fp16/bf16 in its TrainingArguments)",
                      "make_trainer(..., mixed_precision=\"no\") to match it"),
        # L1343-1344 tokenizer of 12,576 tokens; L1377 BertConfig(vocab_size=len(tokenizer)); L1634
        # resize_token_embeddings(30522); L1635 a checkpoint trained elsewhere loaded; L1643 fill-mask with the
        # 12,576-token tokenizer
        "fill-mask vocabulary": ("a 12,576-token tokenizer on a model resized to 30,522 rows and loaded from a "
                                 "checkpoint trained elsewhere (L1343, L1377, L1634-1643)",
                                 "defect: its ids do not name the checkpoint's rows, so the printed answers "
                                 "(/, ##ular, -) are other tokens' scores"),
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
        "word-vector rows": (WORD_ROWS_SOURCE.replace("L203", "L1921").replace("L344", "L2008"), WORD_ROWS_NOTE),
        "gradient clipping (max norm)": ("0.1 (L2123)", "ours clip at the norm in the table"),
        "weight decay": ("none (plain SGD, L2775)", ""),
        # L2498-2502 nn.Sequential(nn.Linear, nn.ReLU, nn.Linear) with PyTorch's default initialisation
        "adapter initialisation": ("PyTorch default for both layers: the adapted model does not start equal to "
                                   "the pretrained one (L2498-2502)",
                                   "ours: a zero up-projection, the identity at the start (Houlsby et al.)"),
        "test loader": ("shuffled (shuffle=True, L1973)", "harmless for accuracy; ours keeps a fixed order"),
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
        # L3149 baseline TextClassifier(freeze=True); L3367-3377 the LoRA model starts from
        # "my-model-agnews-freeze-false.pth": the news model was trained with its embeddings unfrozen
        "word vectors of the news model": ("trained (freeze=False) for the news checkpoint LoRA starts from; "
                                           "frozen in the scratch baseline (L3149, L3367-3377)",
                                           "defect: the likely cause of the reported +3%: the LoRA model reads "
                                           "word vectors tuned on news, the baseline does not"),
        "word-vector rows": (WORD_ROWS_SOURCE.replace("L203", "L2998").replace("L344", "L3134"), WORD_ROWS_NOTE),
        "gradient clipping (max norm)": ("0.1 (L3200)", "ours clip at the norm in the table"),
        "weight decay": ("none (plain SGD, L3449)", ""),
        # L3110-3112 test_dataloader = DataLoader(test_dataset, ..., shuffle=True)
        "test loader": ("shuffled (shuffle=True, L3111)", "harmless for accuracy; ours keeps a fixed order"),
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
        # L4254 dataset[30] printed (the Open Assistant question), then asked before and after (L4305, L4330);
        # the "monopsony" question (L4296) is the split's first row
        "SFT evaluation prompts": ("two guanaco training dialogues, one of them row 30, printed by the notebook "
                                   "(L4254, L4296, L4305)",
                                   "defect: answers to training questions show memory, not generalisation"),
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


def _max_grad_norm() -> str:
    return f"{inspect.signature(classifier.train_classifier).parameters['max_grad_norm'].default:g}"


def _weight_decay() -> str:
    return f"{inspect.signature(classifier.train_classifier).parameters['weight_decay'].default:g} (AdamW)"


def _word_rows() -> str:
    """Whether a word's id names its own row: our vocabularies are built from the same word list as the matrix."""
    return "aligned: id i is row i of the matrix, the specials have rows of their own"


def _partial_unfreeze() -> str:
    code = inspect.getsource(ch01_transfer.build_strategy)
    loads = "load_news_pretrained" in code
    trains = 'except_=("linear2", "classifier")' in code
    return ("news weights loaded; linear2 of each layer and the new head trained" if loads and trains
            else "see ch01_transfer.build_strategy")


def _test_loader() -> str:
    code = inspect.getsource(ch01_transfer)
    return "fixed order (shuffled only for training)" if 'shuffle=(split == "train")' in code else "see code"


def _adapter_init() -> str:
    from course_lib.nn.adapters import FeatureAdapter

    up = FeatureAdapter(8, 2).up
    zero = not up.weight.any() and not up.bias.any()
    return "zero up-projection: the identity at the start" if zero else "PyTorch default"


def _news_word_vectors() -> str:
    import torch

    from course_lib.nn.classic import TextClassifier

    frozen = not TextClassifier(torch.zeros(4, 3), 2).embedding.weight.requires_grad
    return "frozen in every model, the news model included" if frozen else "trained"


def _decoding() -> str:
    d = ch02_inference.DEMO_DECODING
    return (f"greedy and sampling (temperature {d['temperature']:g}, top_p {d['top_p']:g}), {d['max_new_tokens']} "
            "new tokens")


def _fill_mask_vocabulary() -> str:
    params = inspect.signature(ch03_mlm.build_model).parameters
    return "the tokenizer the model was built and trained with" if "vocab_size" in params else "see build_model"


def _sft_eval_prompts() -> str:
    return ("every held-out question; offline, from modules no training question covers "
            f"({corpora.DOCS_QA_TEST_FRACTION:.0%} of the dialogues)")


@dataclass(frozen=True)
class Row:
    """One setting: ``read`` is a dotted path into the chapter's roots (``"cfg.batch_size"``,
    ``"models[sentiment]"``) or a function of the roots (for settings fixed in code, not in a config)."""

    setting: str
    read: str | Callable[[dict], Any]


def _roots(chapter: str, profile: Profile = FULL) -> dict[str, Any]:
    """The objects the rows of ``chapter`` read from, each built from ``config_for(profile)``."""
    if chapter == "01_transfer_learning":
        return {"cfg": ch01_transfer.config_for(profile)}
    if chapter == "02_hf_inference":
        return {"models": ch02_inference.HUB_MODELS}
    if chapter == "03_mlm_pretraining":
        return {"cfg": ch03_mlm.config_for(profile), "corpus": corpora.HUB_CORPUS}
    if chapter == "04_adapters":
        return {"cfg": ch04_adapters.config_for(profile)}
    if chapter == "05_lora":
        return {"cfg": ch05_lora.config_for(profile), "ch01": ch01_transfer.config_for(profile)}
    if chapter == "06_supervised_finetuning":
        return {"ft": ch06_finetune.config_for(profile), "sft": ch06_sft.config_for(profile)}
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
        Row("word-vector rows", lambda r: _word_rows()),
        Row("gradient clipping (max norm)", lambda r: _max_grad_norm()),
        Row("weight decay", lambda r: _weight_decay()),
        Row("partial unfreezing", lambda r: _partial_unfreeze()),
        Row("test loader", lambda r: _test_loader()),
    ],
    "02_hf_inference": [
        *(Row(f"{task} model", f"models[{task}]") for task in
          ("sentiment", "generation", "chat", "translation", "fill-mask", "language-id", "embeddings")),
        Row("precision", lambda r: _hf_load_dtype()),
        Row("decoding", lambda r: _decoding()),
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
        Row("fill-mask vocabulary", lambda r: _fill_mask_vocabulary()),
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
        Row("word-vector rows", lambda r: _word_rows()),
        Row("gradient clipping (max norm)", lambda r: _max_grad_norm()),
        Row("weight decay", lambda r: _weight_decay()),
        Row("adapter initialisation", lambda r: _adapter_init()),
        Row("test loader", lambda r: _test_loader()),
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
        Row("word vectors of the news model", lambda r: _news_word_vectors()),
        Row("word-vector rows", lambda r: _word_rows()),
        Row("gradient clipping (max norm)", lambda r: _max_grad_norm()),
        Row("weight decay", lambda r: _weight_decay()),
        Row("test loader", lambda r: _test_loader()),
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
        Row("SFT evaluation prompts", lambda r: _sft_eval_prompts()),
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


def ours(chapter: str, profile: Profile = FULL) -> dict[str, str]:
    """``setting -> our value for profile`` (formatted, default ``full``), read from the chapter's configs and code."""
    roots = _roots(chapter, profile)
    return {row.setting: _fmt(read_path(roots, row.read) if isinstance(row.read, str) else row.read(roots))
            for row in ROWS[chapter]}


def settings_table(chapter: str) -> list[dict]:
    """Rows ``{"setting", "ours (fast)", "ours (full)", "source", "note"}`` for ``chapter`` (e.g.
    ``"01_transfer_learning"``), for :func:`course_lib.nbtools.table`. The fast profile is what the book's stored
    run used; the full profile is the source's scale."""
    if chapter not in SOURCE_SETTINGS:
        raise KeyError(f"no settings table for chapter {chapter!r}; known: {', '.join(CHAPTERS)}")
    with quiet_hf():  # reading transformers' defaults imports the trainer: no import-time chatter in the table
        full, fast = ours(chapter, FULL), ours(chapter, FAST)
    source = SOURCE_SETTINGS[chapter]
    return [{"setting": s, "ours (fast)": fast[s], "ours (full)": v, "source": _without_line_refs(source[s][0]),
             "note": _without_line_refs(source[s][1])} for s, v in full.items()]


_LINE_REF = re.compile(r"L\d+(?:-\d+)?")


def _without_line_refs(text: str) -> str:
    """The text without the ``L123-456`` references to lines of the source notebooks' text (kept in this module's
    comments for maintainers; a reader of the book does not have that file)."""
    text = re.sub(r"\s*\((?:%s)(?:,\s*(?:%s))*\)" % (_LINE_REF.pattern, _LINE_REF.pattern), "", text)
    text = re.sub(r",\s*(?:%s)(?=[),;])" % _LINE_REF.pattern, "", text)
    return re.sub(r"\s*\(\s*\)", "", text).strip()


def settings_frame(chapter: str):
    """:func:`settings_table` as a ``pandas.DataFrame`` indexed by setting, shown whole: its HTML (the rendered
    book) and its text repr cut no cell short (pandas' default display cuts cells at 50 characters, with "...")."""
    import pandas as pd

    class WholeFrame(pd.DataFrame):
        @property
        def _constructor(self):
            return WholeFrame

        def _repr_html_(self):
            html = self.to_html(escape=True, border=0, na_rep="")
            return ('<div style="overflow-x:auto"><style>.whole-settings td, .whole-settings th {white-space: '
                    'normal; text-align: left; vertical-align: top; max-width: 22em}</style>'
                    + html.replace('class="dataframe"', 'class="dataframe whole-settings"', 1) + "</div>")

        def __repr__(self):
            with pd.option_context("display.max_colwidth", None, "display.width", 10_000,
                                   "display.max_rows", None, "display.max_columns", None):
                return pd.DataFrame.__repr__(self)

    return WholeFrame(pd.DataFrame(settings_table(chapter)).set_index("setting"))

