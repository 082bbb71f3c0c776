import math

import pytest
import torch

from course_lib import mlm
from course_lib.config import Profile

TEXTS = ["The return statement leaves the current function call with the expression list as return value.",
         "A module is a file containing Python definitions and statements that can be imported.",
         "If the argument is a string, the result is the string converted to lower case letters."] * 20


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    import os

    os.environ["COURSE_LIB_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    return mlm.train_tokenizer(TEXTS, vocab_size=200, source="offline")


def tiny_cfg():
    return mlm.MLMConfig(vocab_size=200, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, block_size=16, batch_size=4, epochs=1, learning_rate=1e-3,
                         warmup_ratio=0.0, max_train_blocks=None, max_eval_blocks=None, reference_epochs=2)


def test_config_for_profiles():
    fast, full = mlm.config_for(Profile("fast")), mlm.config_for(Profile("full"))
    assert fast.hidden_size < full.hidden_size and full.num_hidden_layers == 12 and full.hidden_size == 768
    assert fast.mlm_probability == 0.15


def test_clean_paragraphs_drops_code_and_headings():
    text = "Title\n*****\n\nThis paragraph has more than eight real words in it, wrapped\nover two lines.\n\n" \
           "   x = 1  # an indented code sample that is long enough to count as words\n\nshort one"
    assert mlm.clean_paragraphs(text) == [
        "This paragraph has more than eight real words in it, wrapped over two lines."]


def test_split_is_deterministic_and_covers_all():
    splits = [mlm._split_of(f"line {i}") for i in range(2000)]
    assert splits == [mlm._split_of(f"line {i}") for i in range(2000)]
    assert {"train", "validation", "test"} == set(splits)
    assert 0.85 < splits.count("train") / 2000 < 0.95


def test_tokenizer_keeps_bert_special_tokens_and_is_cached(tokenizer):
    assert tokenizer.mask_token == "[MASK]" and tokenizer.pad_token_id == 0
    assert len(tokenizer) <= 200
    again = mlm.train_tokenizer(TEXTS, vocab_size=200, source="offline")
    assert again.get_vocab() == tokenizer.get_vocab()
    with pytest.raises(ValueError, match="empty corpus"):
        mlm.train_tokenizer([], 100, "offline")


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
    long_text = " ".join(["the module"] * 40) + " [MASK] " + " ".join(["function call"] * 40)
    with pytest.warns(UserWarning, match="around the mask"):
        preds = mlm.fill_mask(model, tokenizer, long_text, top_k=3)
    assert len(preds) == 3


def test_reference_model_dir_sources():
    assert mlm.reference_model_dir("hub") == "bert-base-uncased"
    with pytest.raises(ValueError, match="Unknown source"):
        mlm.reference_model_dir("internet")
