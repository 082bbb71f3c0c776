import pytest
import torch
from datasets import Dataset, DatasetDict
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

from course_lib.chapters.ch06_finetune import (
    FinetuneConfig,
    config_for,
    most_confused_pair,
    plot_confusion_matrix,
    plot_losses,
    token_table,
)
from course_lib.config import Profile
from course_lib.hub import minilm_dir
from course_lib.train.baselines import majority_baseline
from course_lib.train.native import (
    evaluate_accuracy,
    load_finetuned,
    make_dataloaders,
    save_finetuned,
    tokenize_classification,
    train_native,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models run fastest on one thread, and a busy machine makes two threads spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_dir())  # the real offline WordPiece tokenizer (no weights loaded)


def toy_ratings(n=60):
    words = ["awful", "bad", "okay", "good", "great"]
    rows = [{"text": f"the food was {words[i % 5]} and the staff {'were ' * (i % 3)}here", "label": i % 5}
            for i in range(n)]
    return DatasetDict({"train": Dataset.from_list(rows), "test": Dataset.from_list(rows[:20])})


def tiny_model(vocab_size, num_labels=5):
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=64, num_labels=num_labels)
    return BertForSequenceClassification(cfg)


def test_config_profiles():
    fast, full = config_for(Profile("fast")), config_for(Profile("full"))
    assert isinstance(fast, FinetuneConfig) and fast.sizes.train >= 500 and fast.max_length <= 128
    assert full.sizes.train > fast.sizes.train and full.mixed_precision == "bf16" and fast.mixed_precision == "no"


def test_tokenize_truncates_renames_and_drops_text(tokenizer):
    tok = tokenize_classification(toy_ratings(), tokenizer, max_length=6)
    assert "text" not in tok["train"].column_names and "labels" in tok["train"].column_names
    assert max(len(x) for x in tok["train"]["input_ids"]) == 6
    rows = token_table(tokenizer, tok["train"][0])
    assert rows[0]["token"] == "[CLS]" and rows[-1]["token"] == "[SEP]"
    assert {r["attention_mask"] for r in rows} == {1} and len(token_table(tokenizer, tok["train"][0], 2)) == 2
    with pytest.raises(ValueError, match="max_length"):
        tokenize_classification(toy_ratings(), tokenizer, max_length=1)


def test_loaders_pad_each_batch_to_its_longest(tokenizer):
    tok = tokenize_classification(toy_ratings(), tokenizer, max_length=32)
    loaders = make_dataloaders(tok, tokenizer, batch_size=4, seed=0)
    batch = next(iter(loaders["test"]))
    assert batch["input_ids"].shape == batch["attention_mask"].shape and batch["labels"].shape == (4,)
    lengths = [len(x) for x in tok["test"]["input_ids"][:4]]
    assert batch["input_ids"].shape[1] == max(lengths)
    first = [next(iter(make_dataloaders(tok, tokenizer, 4, seed=s)["train"]))["labels"].tolist() for s in (0, 0)]
    assert first[0] == first[1]  # the shuffled order repeats with the same seed


def test_native_loop_learns_and_save_load_roundtrip(tokenizer, tmp_path):
    tok = tokenize_classification(toy_ratings(), tokenizer, max_length=16)
    loaders = make_dataloaders(tok, tokenizer, batch_size=10, seed=0)
    model = tiny_model(tokenizer.vocab_size)
    before = evaluate_accuracy(model, loaders["test"])
    history = train_native(model, loaders["train"], epochs=8, learning_rate=1e-2, valid_loader=loaders["test"])
    after = evaluate_accuracy(model, loaders["test"])
    assert len(history.train_loss) == 8 and len(history.step_loss) == 8 * 6 and len(history.val_accuracy) == 8
    assert history.train_loss[-1] < history.train_loss[0]
    assert after["accuracy"] > before["accuracy"]
    assert len(after["predictions"]) == len(after["labels"]) == 20
    plot_losses(history, steps_per_epoch=6)
    path = save_finetuned(model, tokenizer, tmp_path / "model")
    assert (path / "model.safetensors").exists()
    reloaded, _ = load_finetuned(path)
    assert evaluate_accuracy(reloaded, loaders["test"])["predictions"] == after["predictions"]


def test_evaluate_refuses_an_empty_loader(tokenizer):
    tok = tokenize_classification(toy_ratings(), tokenizer, max_length=16)
    empty = make_dataloaders(DatasetDict({"test": tok["test"].select([])}), tokenizer, 4)["test"]
    with pytest.raises(ValueError, match="empty"):
        evaluate_accuracy(tiny_model(tokenizer.vocab_size), empty)


def test_majority_baseline_and_confusion_matrix():
    assert majority_baseline([1, 1, 2, 0], [1, 0, 1, 1]) == (1, 0.75)
    assert majority_baseline([2, 0], [0, 2, 2])[0] == 0  # a tie goes to the smallest label
    with pytest.raises(ValueError):
        majority_baseline([], [1])
    # errors: 1->2 twice, 2->1 once, 0->2 once: the pair (1, 2) holds 3 of the 4 errors
    labels, preds = [0, 0, 1, 1, 1, 2, 2], [0, 2, 1, 2, 2, 1, 2]
    assert most_confused_pair(labels, preds, 3) == {"pair": (1, 2), "pairs": [(1, 2)], "count": 3, "errors": 4}
    assert most_confused_pair([0, 1], [0, 1], 3) == {"pair": None, "pairs": [], "count": 0, "errors": 0}
    tie = most_confused_pair([0, 1, 2, 3], [1, 0, 3, 2], 4)  # 0<->1 twice, 2<->3 twice: a tie, reported as one
    assert tie["pairs"] == [(0, 1), (2, 3)] and tie["count"] == 2
    from course_lib.chapters.ch06_finetune import describe_pairs
    assert describe_pairs(tie["pairs"], ["a", "b", "c", "d"]) == "a and b, and c and d (a tie)"
    assert describe_pairs([(0, 1)], ["a", "b"]) == "a and b"
    fig = plot_confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], ["a", "b", "c"])
    assert fig.axes[0].get_xlabel() == "predicted"
    cells = sorted(t.get_text() for t in fig.axes[0].texts)
    assert cells == sorted(["1", "0", "0", "0", "1", "1", "0", "0", "1"])


def test_loaded_models_sit_on_the_training_device(tokenizer, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from course_lib import precision
    from course_lib.chapters import ch06_finetune as finetune

    path = save_finetuned(tiny_model(tokenizer.vocab_size), tokenizer, tmp_path / "model")
    monkeypatch.setattr(precision, "training_device", lambda: torch.device("meta"))  # a device no test has
    monkeypatch.setattr(finetune, "checkpoint", lambda hub_id, source: str(path))
    model, _ = load_finetuned(path)
    assert {p.device.type for p in model.parameters()} == {"meta"}
    cfg = config_for(Profile("fast"))
    model, _, _ = finetune.load_classifier(SimpleNamespace(source="offline"), cfg, num_labels=5)
    assert {p.device.type for p in model.parameters()} == {"meta"}
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_trained_model_computes_like_its_reloaded_copy_after_mixed_precision(tokenizer, tmp_path, monkeypatch):
    from course_lib import precision

    tok = tokenize_classification(toy_ratings(20), tokenizer, max_length=16)
    loaders = make_dataloaders(tok, tokenizer, batch_size=10, seed=0)
    model = tiny_model(tokenizer.vocab_size)
    with monkeypatch.context() as m:  # grant bf16 autocast here (a CPU runs it too), as a GPU that supports it
        m.setattr(precision, "choose_precision",
                  lambda requested="bf16": precision.Precision("bf16", torch.float32, "bf16 (test)"))
        train_native(model, loaders["train"], epochs=1, learning_rate=1e-2, mixed_precision="bf16")
    assert "_original_forward" not in model.__dict__  # accelerate's autocast wrapper is gone
    reloaded, _ = load_finetuned(save_finetuned(model, tokenizer, tmp_path / "model"))
    batch = next(iter(loaders["test"]))
    model.eval()
    with torch.no_grad():
        logits, again = model(**batch).logits, reloaded(**batch).logits
    assert logits.dtype == again.dtype == torch.float32 and torch.equal(logits, again)
    precision.make_accelerator("no")  # leave accelerate's state in float32 for the tests that follow
