import warnings

import pytest
import torch

from course_lib import inference as inf
from course_lib.exercises import ch02, ch03


def test_unknown_task_is_rejected_with_the_list():
    with pytest.raises(ValueError, match="Unknown task 'summarize'.*sentiment"):
        inf.check_task("summarize")
    with pytest.raises(ValueError, match="Unknown task"):
        inf.model_for("translation-en-fr", "offline")


def test_hub_id_under_offline_fails_fast():
    with pytest.raises(RuntimeError, match="SOURCE=offline cannot load hub id 'gpt2'"):
        inf.load("gpt2", "offline", "causal")
    with pytest.raises(RuntimeError, match="SOURCE=offline"):
        inf.load("someone/unknown-model", "offline")
    with pytest.raises(ValueError, match="Unknown model kind"):
        inf.load("gpt2", "offline", "vision")


def test_model_for_hub_names_the_source_checkpoints():
    assert inf.model_for("generation", "hub").name_or_path == "gpt2"
    assert inf.model_for("translation", "hub").name_or_path == "t5-small"
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
    with inf.quiet_hf():
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
