
import pytest
import torch

from course_lib import env
from course_lib.chapters import ch02_inference as inf
from course_lib.exercises import ch02, ch03


def test_unknown_task_is_rejected_with_the_list():
    with pytest.raises(ValueError, match="Unknown task 'summarize'.*sentiment"):
        inf.check_task("summarize")
    with pytest.raises(ValueError, match="Unknown task"):
        inf.model_for("translation-en-fr", "offline")


def test_hub_id_under_offline_fails_fast():
    with pytest.raises(RuntimeError, match="SOURCE=offline cannot load hub id 'openai-community/gpt2'"):
        inf.load("openai-community/gpt2", "offline", "causal")
    with pytest.raises(RuntimeError, match="SOURCE=offline"):
        inf.load("someone/unknown-model", "offline")
    with pytest.raises(ValueError, match="Unknown model kind"):
        inf.load("openai-community/gpt2", "offline", "vision")


def test_model_for_hub_names_the_source_checkpoints():
    assert inf.model_for("generation", "hub").name_or_path == "openai-community/gpt2"
    assert inf.model_for("translation", "hub").name_or_path == "google-t5/t5-small"
    assert "offline" in inf.model_for("embeddings", "offline").description
    with pytest.raises(ValueError, match="Unknown source"):
        inf.model_for("generation", "cloud")


def test_empty_prompt_is_rejected():
    for bad in ("", "   ", None):
        with pytest.raises(ValueError, match="empty"):
            inf.check_prompt(bad)


class _CharTokenizer:
    """One token per character: enough to test truncation without loading a model."""

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids):
        return "".join(chr(i) for i in ids)


def test_long_prompt_is_truncated_with_a_warning():
    tok = _CharTokenizer()
    assert inf.fit_to_context(tok, "short", 10) == "short"
    with pytest.warns(UserWarning, match="more than the 4"):
        assert inf.fit_to_context(tok, "abcdefgh", 4) == "efgh"
    with pytest.warns(UserWarning, match="kept the first 3"):
        assert inf.fit_to_context(tok, "abcdefgh", 3, keep="start") == "abc"


def test_repetition_softmax_cosine():
    assert inf.repeated_ngram_fraction("a b c a b c a b c", n=3) == pytest.approx(4 / 7)
    assert inf.repeated_ngram_fraction("one two three four", n=3) == 0.0
    logits = torch.tensor([[1000.0, 1001.0], [0.0, 0.0]])
    assert torch.allclose(inf.softmax(logits), torch.softmax(logits, -1))
    sim = inf.cosine_matrix(torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]]))
    assert torch.allclose(sim, torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]))
    assert inf.entropy_bits([0.5, 0.5]) == pytest.approx(1.0)


def test_checkers_pass_on_solutions_and_fail_on_stubs(capsys):
    def stub(*args):
        raise NotImplementedError

    def softmax_label(logits, id2label):
        p = torch.softmax(logits, -1)
        return id2label[int(p.argmax())], float(p.max())

    def mean_pool(h, m):
        m = m.unsqueeze(-1).float()
        return (h * m).sum(1) / m.sum(1)

    def wordpiece(word, vocab):
        return ch03.reference_wordpiece(word, vocab)

    solutions = [(ch02.check_softmax_label, softmax_label), (ch02.check_mean_pool, mean_pool),
                 (ch02.check_cosine_matrix, lambda x: inf.cosine_matrix(x)),
                 (ch02.check_top_p, ch02.reference_top_p), (ch03.check_wordpiece, wordpiece)]
    for checker, fn in solutions:
        assert checker(fn) is True
        assert checker(stub) is False
    out = capsys.readouterr().out
    assert out.count("PASS") == 5 and out.count("NOT YET") == 5
    assert ch02.check_mean_pool(lambda h, m: h.mean(1)) is False  # padding averaged in: caught
    assert "padding" in capsys.readouterr().out


@pytest.mark.slow
def test_manual_path_agrees_with_pipeline_on_real_minilm():
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from course_lib import hub

    d = hub.minilm_dir()
    with env.quiet_hf():
        tok = AutoTokenizer.from_pretrained(d)
        torch.manual_seed(0)
        model = AutoModelForSequenceClassification.from_pretrained(
            d, num_labels=2, id2label=dict(inf.SENTIMENT_LABELS)).eval()
    texts = ["not bad at all", "a dull and awful plot, but a superb cast"]
    steps = inf.classify_manual(model, tok, texts)
    assert steps.tokens[0][0] == "[CLS]" and steps.labels[0] in ("NEGATIVE", "POSITIVE")
    assert inf.agree(steps, inf.classify_pipeline(model, tok, texts))
    emb = inf.embed(model.bert, tok, ["a cat sat on the mat", "a kitten sat on a rug", "stock markets fell"])
    sim = inf.cosine_matrix(emb)
    assert sim[0, 1] > sim[0, 2]
    with pytest.raises(ValueError, match="empty"):
        inf.classify_manual(model, tok, ["fine", ""])


def _tiny_gpt2():
    """A GPT-2-style causal LM and tokenizer built locally, whose tokenizer (like GPT-2's) has no chat template."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["<|endoftext|>", "<unk>", "hello", "world", "translate", "this", "to", "french", "which", "language"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>", unk_token="<unk>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(words), n_positions=128, n_embd=16, n_layer=1, n_head=2,
                                       bos_token_id=0, eos_token_id=0)).eval()
    return model, tok


def test_chat_on_a_tokenizer_without_a_template_falls_back_to_plain_prompting(monkeypatch):
    model, tok = _tiny_gpt2()
    assert tok.chat_template is None and not inf.has_chat_template(tok)
    with pytest.raises(ValueError):  # what transformers 5 does when asked to apply a missing template
        tok.apply_chat_template([{"role": "user", "content": "hello"}], tokenize=False)

    def refuse(*args, **kwargs):
        raise AssertionError("apply_chat_template called on a tokenizer without a chat template")

    monkeypatch.setattr(type(tok), "apply_chat_template", refuse)
    with pytest.warns(UserWarning, match="no chat template"):
        assert isinstance(inf.generate(model, tok, "hello world", max_new_tokens=2, chat=True), str)
    # the hub path's translation and language-id helpers, handed a decoder-only model like GPT-2, go the same way
    with pytest.warns(UserWarning, match="no chat template"):
        inf.translate(model, tok, "hello world", "French", source="hub", max_new_tokens=2)
    with pytest.warns(UserWarning, match="no chat template"):
        assert inf.detect_language(model, tok, "hello world", source="offline")["score"] is None


def test_chat_demos_use_an_instruction_model_on_both_sources():
    assert inf.model_for("chat", "hub").name_or_path == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert inf.model_for("generation", "hub").name_or_path == "openai-community/gpt2"  # plain continuation only
    # on the hub, translation and language id use models that need no chat template (T5, an XLM-R classifier)
    assert inf.model_for("translation", "hub").name_or_path == "google-t5/t5-small"
    assert "xlm-roberta" in inf.model_for("language-id", "hub").name_or_path


def _tiny_mean_pool_classifier(tmp_path):
    from transformers import BertConfig, BertTokenizerFast

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "bad", "film", "plot", "not", "at", "all"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = BertTokenizerFast(str(tmp_path / "vocab.txt"))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=2,
                     id2label=dict(inf.SENTIMENT_LABELS), label2id={v: k for k, v in inf.SENTIMENT_LABELS.items()})
    return inf.BertMeanPoolForSequenceClassification(cfg).eval(), tok


def test_mean_pool_classifier_ignores_padding_and_matches_embed(tmp_path):
    model, tok = _tiny_mean_pool_classifier(tmp_path)
    texts = ["a good film", "not a bad plot at all a good film"]
    both = inf.classify_manual(model, tok, texts)
    alone = inf.classify_manual(model, tok, texts[:1])
    assert both.attention_mask[0].sum() < both.attention_mask.shape[1]  # the first text was padded
    assert torch.allclose(both.logits[0], alone.logits[0], atol=1e-5)  # ... and padding changed nothing
    enc = tok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        emb = inf.embed(model.bert, tok, texts)
        assert torch.allclose(model.pool(**enc), emb, atol=1e-6)  # the head reads exactly embed()'s vectors
        assert torch.allclose(model(**enc).logits, model.classifier(emb), atol=1e-5)


def test_pipeline_runs_the_mean_pool_classifier_quietly(tmp_path, caplog):
    model, tok = _tiny_mean_pool_classifier(tmp_path)

    class UnlistedForTest(inf.BertMeanPoolForSequenceClassification):
        pass

    unlisted = UnlistedForTest(model.config).eval()
    unlisted.load_state_dict(model.state_dict())
    texts = ["a good film", "not a bad plot at all"]
    with caplog.at_level("ERROR"):
        inf.classify_pipeline(unlisted, tok, texts)
    assert "'UnlistedForTest' is not supported" in caplog.text  # pipeline() logs it, then runs it all the same
    caplog.clear()
    inf._quiet_unsupported_model_notice("UnlistedForTest")
    with caplog.at_level("ERROR"):
        piped = inf.classify_pipeline(unlisted, tok, texts)
    assert "is not supported" not in caplog.text
    assert inf.agree(inf.classify_manual(unlisted, tok, texts), piped)


def test_sentiment_config_reads_real_reviews_at_256_tokens():
    from course_lib.config import Profile

    fast = inf.config_for(Profile("fast"))
    assert fast.max_length == 256 and fast.n_test >= 200
    assert "synthetic" not in (inf.__doc__ or "").lower()


def test_sentiment_head_counts_its_trainable_parameters_before_freezing(tmp_path):
    """The head's count is taken while it trains (regression: it was counted after the model was frozen: 0)."""
    from datasets import Dataset, DatasetDict

    model, tok = _tiny_mean_pool_classifier(tmp_path)
    model.save_pretrained(tmp_path / "enc")
    tok.save_pretrained(tmp_path / "enc")
    texts = ["a good film", "not a bad plot", "a bad film", "good plot at all"] * 4
    labels = [1, 1, 0, 1] * 4
    split = Dataset.from_dict({"text": texts, "label": labels})
    data = DatasetDict({"train": split, "validation": split, "test": split})
    cfg = inf.SentimentConfig(n_train=16, n_validation=16, n_test=16, max_length=8, epochs=2, learning_rate=1e-2,
                              batch_size=8)
    result = inf.train_sentiment_head(str(tmp_path / "enc"), data, cfg, seed=0)
    assert result.trainable_params == 16 * 2 + 2  # the classifier: hidden x labels weights + labels biases
    assert not any(p.requires_grad for p in result.model.parameters())  # the returned model is frozen


def test_next_token_entropy_uses_the_whole_normalised_distribution():
    logits = torch.tensor([3.0, 2.0, 1.0] + [0.0] * 97)
    whole = inf.next_token_entropy(logits, temperature=1.0)
    top3 = inf.entropy_bits(torch.softmax(logits, -1).sort(descending=True).values[:3])
    assert whole > top3  # the tail's mass counts
    assert inf.next_token_entropy(logits, 0.5) < whole < inf.next_token_entropy(logits, 2.0)
    assert inf.next_token_entropy(torch.zeros(8), 1.0) == pytest.approx(3.0)  # uniform over 8 = 3 bits


def test_entropy_exercise_passes_the_solution_and_explains_wrong_answers(capsys):
    def solution(logits, temperatures):
        return [inf.next_token_entropy(logits, t) for t in temperatures]

    def stub(logits, temperatures):
        raise NotImplementedError

    def nats(logits, temperatures):
        import math
        return [inf.next_token_entropy(logits, t) * math.log(2) for t in temperatures]

    def top20(logits, temperatures):
        return [inf.entropy_bits(torch.softmax(logits / t, -1).sort(descending=True).values[:20])
                for t in temperatures]

    assert ch02.check_entropy_by_temperature(solution) is True
    assert "PASS" in capsys.readouterr().out
    for wrong, hint in [(stub, "NotImplementedError"), (nats, "nats"), (top20, "top 20")]:
        assert ch02.check_entropy_by_temperature(wrong) is False
        out = capsys.readouterr().out
        assert "NOT YET" in out and hint in out


def test_truncation_exercise_passes_the_solution_and_explains_wrong_answers(capsys):
    """Exercise 2.5 measures the share of IMDB review tokens a 128/256-token input drops (MiniLM's tokenizer)."""

    def lengths(texts, tokenizer):
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    def solution(texts, tokenizer, max_length):
        n = lengths(texts, tokenizer)
        cut = [max(0, k - (max_length - 2)) for k in n]
        return {"reviews_cut": sum(c > 0 for c in cut) / len(n), "tokens_cut": sum(cut) / sum(n)}

    def stub(texts, tokenizer, max_length):
        raise NotImplementedError

    def no_special_tokens(texts, tokenizer, max_length):  # forgets that [CLS] and [SEP] take two positions
        n = lengths(texts, tokenizer)
        cut = [max(0, k - max_length) for k in n]
        return {"reviews_cut": sum(c > 0 for c in cut) / len(n), "tokens_cut": sum(cut) / sum(n)}

    def words(texts, tokenizer, max_length):
        n = [len(t.split()) for t in texts]
        cut = [max(0, k - (max_length - 2)) for k in n]
        return {"reviews_cut": sum(c > 0 for c in cut) / len(n), "tokens_cut": sum(cut) / sum(n)}

    def mean_of_shares(texts, tokenizer, max_length):
        n = lengths(texts, tokenizer)
        cut = [max(0, k - (max_length - 2)) for k in n]
        return {"reviews_cut": sum(c > 0 for c in cut) / len(n),
                "tokens_cut": sum(c / k for c, k in zip(cut, n)) / len(n)}

    assert ch02.check_truncation_share(solution) is True
    assert capsys.readouterr().out == "Exercise 2.5: PASS\n"
    for wrong, hint in [(stub, "NotImplementedError"), (no_special_tokens, "[CLS] and [SEP]"),
                        (words, "counts words"), (mean_of_shares, "pool the tokens")]:
        assert ch02.check_truncation_share(wrong) is False
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and "NOT YET" in out and hint in out, out
