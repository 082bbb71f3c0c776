import io
from contextlib import redirect_stdout

import pytest
import torch
from datasets import Dataset, DatasetDict

from course_lib.chapters import ch06_sft as sft
from course_lib.config import Profile
from course_lib.data import corpora
from course_lib.data.loaders import Sizes
from course_lib.exercises import ch06


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and a busy machine makes two threads spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

# --- the dialogue format ----------------------------------------------------------------------------------------


def test_split_dialogue_single_and_multi_turn():
    assert corpora.split_dialogue("### Human: Hi?### Assistant: Hello.") == {
        "prompt": "### Human: Hi?### Assistant:", "completion": " Hello."}
    multi = "### Human: A?### Assistant: First answer.### Human: B?### Assistant: Second."
    assert corpora.split_dialogue(multi) == {"prompt": "### Human: A?### Assistant:", "completion": " First answer."}
    text = corpora.format_dialogue("What does json.dumps do?", "Serialize obj.")
    out = corpora.split_dialogue(text)
    assert out["prompt"] + out["completion"] == text


@pytest.mark.parametrize("bad, match", [
    ("### Human: no answer marker here", "no '### Assistant:' marker"),
    ("### Human: Q?### Assistant:   ", "no answer"),
    ("### Assistant: an answer without a question", "no question"),
])
def test_split_dialogue_errors_name_the_format(bad, match):
    with pytest.raises(ValueError, match=match) as err:
        corpora.split_dialogue(bad)
    assert "### Human: <question>### Assistant: <answer>" in str(err.value)
    with pytest.raises(TypeError):
        corpora.split_dialogue(None)


def test_to_prompt_completion_and_empty_dataset():
    ds = Dataset.from_dict({"text": [corpora.format_dialogue("Q1?", "A1."), corpora.format_dialogue("Q2?", "A2.")]})
    pc = corpora.to_prompt_completion(DatasetDict({"train": ds}))
    assert pc["train"].column_names == ["prompt", "completion"] and pc["train"][1]["completion"] == " A2."
    with pytest.raises(ValueError, match="empty"):
        corpora.to_prompt_completion(ds.select([]))
    with pytest.raises(ValueError, match="'text' column"):
        corpora.to_prompt_completion(Dataset.from_dict({"dialogue": ["x"]}))


# --- the offline question-answer set ----------------------------------------------------------------------------


def test_docs_qa_files_are_frozen_clean_and_hash_checked(tmp_path, monkeypatch):
    import hashlib
    import json

    files = corpora.docs_qa_files()
    digests = {split: hashlib.sha256(path.read_bytes()).hexdigest() for split, path in files.items()}
    assert digests == {  # pinned: the offline dialogues are the same on every machine
        "train": "8b3fbc1ee520a1c41c049425cf7d651033ca6eac37c27f7e2562b14bd56e495b",
        "test": "29a2cdc29c646347e88531cc63b3cf11c488556a5420bea59c94182e8dac599f",
    }
    rows = {split: [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
            for split, path in files.items()}
    assert [len(rows["train"]), len(rows["test"])] == [393, 69]
    pairs = [corpora.split_dialogue(r["text"]) for split in rows for r in rows[split]]
    qa = {p["prompt"]: p["completion"].strip() for p in pairs}
    assert qa["### Human: What does json.dumps do?### Assistant:"].startswith("Serialize obj to a JSON formatted")
    for p in pairs:
        assert p["prompt"].endswith("?" + corpora.ASSISTANT)
        answer = p["completion"].strip()
        assert answer[0].isupper() and answer.endswith(".") and 25 <= len(answer) <= 220 and "``" not in answer
    assert len(qa) == len(pairs) == len({p["completion"] for p in pairs})  # no question or answer twice
    # a changed file is refused with a clear message
    for split, path in files.items():
        (tmp_path / path.name).write_bytes(path.read_bytes())
    (tmp_path / "test.jsonl").write_text("{}\n", encoding="utf-8")
    monkeypatch.setattr(corpora, "DOCS_QA_DIR", tmp_path)
    with pytest.raises(ValueError, match="sha256.*changed"):
        corpora.docs_qa_files()
    (tmp_path / "test.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match="missing"):
        corpora.docs_qa_files()


def test_loader_does_not_scrape_the_standard_library():
    import inspect

    source = inspect.getsource(sft)
    assert "pydoc_data" not in source.replace("``pydoc_data.topics``", "") and "importlib" not in source


def test_load_dialogues_offline_reads_the_guanaco_format(tmp_cache):
    ds = corpora.load_dialogues("offline", Sizes(train=50, validation=5, test=10), seed=0)
    assert [len(ds[s]) for s in ("train", "validation", "test")] == [50, 5, 10]
    assert ds["train"].column_names == ["text"] and ds["train"][0]["text"].startswith(corpora.HUMAN)
    again = corpora.load_dialogues("offline", Sizes(train=50, validation=5, test=10), seed=0)
    assert list(again["test"]["text"]) == list(ds["test"]["text"])
    assert not set(ds["test"]["text"]) & set(corpora.load_dialogues("offline", seed=0)["train"]["text"])
    with pytest.raises(ValueError, match="Unknown source"):
        corpora.load_dialogues("local")


def test_settings_profiles():
    fast, full = sft.config_for(Profile("fast")), sft.config_for(Profile("full"))
    assert fast.use_lora and fast.max_length <= 128 and 0 < fast.max_steps <= 40
    assert not full.use_lora and full.max_length >= 512 and full.mixed_precision == "bf16"


# --- a tiny causal LM end to end ------------------------------------------------------------------------------


def tiny_tokenizer(texts):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = sorted({w for t in texts for w in pre_tokenizers.Whitespace().pre_tokenize_str(t) for w in [w[0]]})
    vocab = {"<unk>": 0, "<pad>": 1, "</s>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="</s>")


def tiny_data(n=24):
    qa = [(f"What does f{i} do?", f"Return {i} plus one.") for i in range(n)]
    return Dataset.from_list([corpora.split_dialogue(corpora.format_dialogue(q, a)) for q, a in qa])


def test_fit_to_max_length_drops_cuts_and_refuses():
    data = tiny_data(4)
    tok = tiny_tokenizer([p + c for p, c in zip(data["prompt"], data["completion"])])
    n_prompt = len(tok(data[0]["prompt"])["input_ids"])
    assert len(sft.fit_to_max_length(data, tok, 64)) == 4
    with pytest.warns(UserWarning, match="longer than max_length"):
        assert len(sft.fit_to_max_length(data, tok, n_prompt + 4)) == 4
    long = Dataset.from_list([{"prompt": "### Human: " + "very " * 40 + "long?### Assistant:",
                               "completion": " Yes."}, data[0]])
    with pytest.warns(UserWarning, match="1 of 2 examples dropped"):
        assert len(sft.fit_to_max_length(long, tok, 24)) == 1
    with pytest.raises(ValueError, match="max_length=3 is smaller than every prompt"):
        sft.fit_to_max_length(data, tok, 3)
    with pytest.raises(ValueError, match="empty"):
        sft.fit_to_max_length(data.select([]), tok, 64)


def test_completion_only_trainer_masks_the_prompt_and_trains(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    data = tiny_data()
    tok = tiny_tokenizer([p + c for p, c in zip(data["prompt"], data["completion"])])
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                                         max_position_embeddings=64, pad_token_id=tok.pad_token_id,
                                         eos_token_id=tok.eos_token_id))
    cfg = sft.SFTSettings(sizes=Sizes(), max_length=32, batch_size=8, max_steps=6, num_train_epochs=1,
                          learning_rate=5e-3,
                          use_lora=True, lora_r=4, lora_alpha=8)
    model = sft.add_lora(model, cfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in model.parameters()) / 2
    trainer = sft.make_sft_trainer(model, tok, data, cfg, eval_dataset=data, output_dir=tmp_path, seed=0)
    example = trainer.train_dataset[0]
    n_prompt = len(tok(data[0]["prompt"])["input_ids"])
    assert example["labels"][:n_prompt] == [-100] * n_prompt
    assert example["labels"][n_prompt:] == example["input_ids"][n_prompt:]
    assert example["input_ids"][-1] == tok.eos_token_id  # trl ends every completion with EOS
    rows = sft.masked_label_rows(example, tok)
    assert rows[0]["label"] == "-100 (masked)" and rows[-1]["label"] == str(tok.eos_token_id)
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    assert trainer.evaluate()["eval_loss"] < before
    answers = sft.generate_answers(model, tok, list(data["prompt"][:3]), 4, batch_size=2)
    assert len(answers) == 3 and all(isinstance(a, str) and "###" not in a for a in answers)
    decoding = sft.Decoding(max_new_tokens=4, repetition_penalty=1.3, no_repeat_ngram_size=2)
    answers, stopped = sft.generate_answers(model, tok, list(data["prompt"][:3]), decoding, return_stopped=True)
    assert len(answers) == len(stopped) == 3 and all(isinstance(s, bool) for s in stopped)
    assert tok.padding_side == "right"  # restored after generation


def test_sft_config_uses_the_current_checkpointing_name_without_a_warning(tmp_path, monkeypatch):
    import warnings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    fast, full = sft.config_for(Profile("fast")), sft.config_for(Profile("full"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # transformers 5 warns for `gradient_checkpointing`
        args_fast, args_full = sft.sft_config(fast, tmp_path), sft.sft_config(full, tmp_path)
    assert args_fast.activation_checkpointing is False  # trl's default (True) is not left in place
    assert args_full.activation_checkpointing is True
    assert not args_full.bf16 and not args_full.fp16  # no GPU: float32, although the full profile asks for bf16


def test_load_causal_lm_keeps_float32_weights_for_a_bf16_run(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from transformers import LlamaConfig, LlamaForCausalLM

    from course_lib import hub, precision

    data = tiny_data(4)
    tok = tiny_tokenizer([p + c for p, c in zip(data["prompt"], data["completion"])])
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2)).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    monkeypatch.setattr(hub, "checkpoint", lambda hub_id, source: str(tmp_path))
    # a GPU with native bfloat16: the full profile trains in bf16 autocast there
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100")
    monkeypatch.setattr(precision, "training_device", lambda: torch.device("cpu"))
    full = sft.config_for(Profile("full"))
    assert precision.choose_precision(full.mixed_precision).mixed_precision == "bf16"
    model, _ = sft.load_causal_lm(SimpleNamespace(source="offline"), full)
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # master weights for AdamW


# --- the metric and the exercise checkers -----------------------------------------------------------------------


def test_token_f1():
    assert sft.token_f1("Return the sum.", "return the SUM") == 1.0
    assert sft.token_f1("nothing", "Serialize obj") == 0.0 and sft.token_f1("", "x") == 0.0
    assert sft.token_f1("the cat", "the cat sat down") == pytest.approx(2 * 1 * 0.5 / 1.5)
    assert sft.mean_token_f1(["a b", "c"], ["a b", "d"]) == pytest.approx(0.5)
    assert sft.token_f1_scores(["a b", "c"], ["a b", "d"]) == [1.0, 0.0]
    with pytest.raises(ValueError):
        sft.mean_token_f1(["a"], [])


def test_spread_mean_se_and_paired_bootstrap():
    mean, se = sft.mean_and_se([0.0, 1.0, 0.0, 1.0])
    assert mean == 0.5 and se == pytest.approx((1 / 3) ** 0.5 / 2)
    with pytest.raises(ValueError):
        sft.mean_and_se([1.0])
    before, after = [0.1, 0.2, 0.0, 0.3] * 10, [0.5, 0.6, 0.4, 0.9] * 10
    low, high = sft.paired_bootstrap(before, after, seed=0)
    assert 0 < low < 0.45 < high and sft.paired_bootstrap(before, after, seed=0) == (low, high)
    low, high = sft.paired_bootstrap(after, after)
    assert low == high == 0.0
    with pytest.raises(ValueError):
        sft.paired_bootstrap([0.1], [0.2])


def test_chat_prompt_uses_the_template():
    class Tok:
        def apply_chat_template(self, messages, tokenize, add_generation_prompt):
            assert not tokenize and add_generation_prompt
            return f"<user>{messages[0]['content']}</user><assistant>"

    Tok.chat_template = "{{ messages }}"
    assert sft.chat_prompt(Tok(), "### Human: What is x?### Assistant:") == "<user>What is x?</user><assistant>"


def test_chat_prompt_without_a_template_keeps_the_guanaco_prompt():
    """opt-350m (the hub model) has no chat template: apply_chat_template would raise in transformers 5."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2TokenizerFast

    raw = Tokenizer(models.BPE(vocab={"a": 0, "b": 1}, merges=[]))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel()
    tok = GPT2TokenizerFast(tokenizer_object=raw)
    assert tok.chat_template is None
    prompt = "### Human: What is x?### Assistant:"
    with pytest.warns(UserWarning, match="no chat template"):
        assert sft.chat_prompt(tok, prompt) == prompt


def _verdict(check, fn):
    buf = io.StringIO()
    with redirect_stdout(buf):
        check(fn)
    return buf.getvalue().strip()


def _stub(*args):
    raise NotImplementedError


def test_ch06_checkers_pass_on_solutions_and_fail_on_stubs():
    from collections import Counter

    from course_lib.train.baselines import majority_baseline

    solutions = {
        ch06.check_majority_accuracy: lambda train, test: majority_baseline(train, test)[1],
        ch06.check_token_f1: sft.token_f1,
    }
    wrong = {
        ch06.check_majority_accuracy: lambda train, test: Counter(test).most_common(1)[0][1] / len(test),
        ch06.check_token_f1: lambda p, r: float(p.lower() == r.lower()),
    }
    for check, solution in solutions.items():
        assert _verdict(check, solution).endswith(": PASS")
        assert "NOT YET" in _verdict(check, _stub) and "NotImplementedError" in _verdict(check, _stub)
        assert "NOT YET" in _verdict(check, wrong[check])


def test_docs_qa_split_keeps_each_module_on_one_side(tmp_cache):
    ds = corpora.load_dialogues("offline", seed=0)
    train = list(ds["train"]["text"]) + list(ds["validation"]["text"])
    test = list(ds["test"]["text"])
    assert len(train) + len(test) == 393 + 69 and 50 <= len(test) <= 80
    assert not {corpora.docs_qa_group(t) for t in train} & {corpora.docs_qa_group(t) for t in test}
    assert corpora.docs_qa_group("### Human: What does bytes.removesuffix do?### Assistant: x") == "str"
    answers = [corpora.split_dialogue(t)["completion"] for t in train]
    held = [corpora.split_dialogue(t)["completion"] for t in test]
    assert len(sft.near_twins(answers, held)) <= 2  # the random split of the files had 26 of 69
    assert list(corpora.load_dialogues("offline", seed=1)["test"]["text"]) == test  # the same for every seed


def test_cut_to_reference_length():
    assert sft.cut_to_reference_length(["Return a copy of the list, then more words"], ["Return a copy."]) == [
        "Return a copy"]
    assert sft.cut_to_reference_length(["short"], ["a much longer reference"]) == ["short"]
    assert sft.near_twins(["Return a shallow copy of a set."], ["Return a shallow copy of the list.", "x y"]) == [0]


def _one_verdict(checker, fn, capsys, hint=None):
    ok = checker(fn)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    if hint is None:
        assert ok is True and "PASS" in out, out
    else:
        assert ok is False and "NOT YET" in out and hint in out, out


@pytest.mark.slow  # loads SmolLM2's tokenizer (from the GGUF file when the chapter has not cached it: about 6 s)
def test_trained_share_exercise_passes_the_solution_and_explains_wrong_answers(capsys):
    """Exercise 6.1 measures the share of kept tokens that carry a label under completion-only loss."""

    def counts(prompts, completions, tokenizer, eos=1):
        n_prompt = [len(ids) for ids in tokenizer(list(prompts))["input_ids"]]
        n_total = [len(ids) + eos for ids in tokenizer([p + c for p, c in zip(prompts, completions)])["input_ids"]]
        return n_prompt, n_total

    def solution(prompts, completions, tokenizer, max_length, eos=1):
        n_prompt, n_total = counts(prompts, completions, tokenizer, eos)
        kept = [min(n, max_length) for n in n_total]
        return sum(k - min(p, max_length) for k, p in zip(kept, n_prompt)) / sum(kept)

    def no_eos(prompts, completions, tokenizer, max_length):
        return solution(prompts, completions, tokenizer, max_length, eos=0)

    def never_cut(prompts, completions, tokenizer, max_length):
        n_prompt, n_total = counts(prompts, completions, tokenizer)
        return (sum(n_total) - sum(n_prompt)) / sum(n_total)

    for fn, hint in [(solution, None), (_stub, "NotImplementedError"), (no_eos, "end-of-sequence"),
                     (never_cut, "cut every sequence")]:
        _one_verdict(ch06.check_trained_share, fn, capsys, hint)


def test_twin_share_exercise_passes_the_solution_and_explains_wrong_answers(capsys):
    """Exercise 6.3 measures the share of held-out answers with a near-twin in training, by module and at random."""

    def solution(train, test):
        return sum(any(sft.token_f1(a, b) >= 0.7 for b in train) for a in test) / len(test)

    def count(train, test):
        return solution(train, test) * len(test)

    def exact(train, test):
        return sum(a in set(train) for a in test) / len(test)

    for fn, hint in [(solution, None), (_stub, "NotImplementedError"), (count, "a count"),
                     (exact, "exact matches")]:
        _one_verdict(ch06.check_twin_share, fn, capsys, hint)


def test_paired_bootstrap_exercise_rejects_an_unpaired_interval_with_its_hint(capsys):
    """Exercise 6.5's 'paired is narrower than unpaired' clause can fail: an answer that resamples the two sides on
    its own gets NOT YET with the hint about pairing, one that draws other indices gets the hint about the draw."""
    import numpy as np

    def unpaired(before, after, n_resamples, seed):
        b, a = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
        rng = np.random.default_rng(seed)
        means = (a[rng.integers(0, len(a), size=(n_resamples, len(a)))].mean(1)
                 - b[rng.integers(0, len(b), size=(n_resamples, len(b)))].mean(1))
        low, high = np.quantile(means, [0.025, 0.975])
        return float(low), float(high)

    def other_draw(before, after, n_resamples, seed):
        return sft.paired_bootstrap(before, after, n_resamples, seed + 1)

    for fn, hint in [(sft.paired_bootstrap, None), (_stub, "NotImplementedError"),
                     (unpaired, "resampling each side on its own"), (other_draw, "draw the indices exactly")]:
        _one_verdict(ch06.check_paired_bootstrap, fn, capsys, hint)
