import pytest
import torch
from datasets import Dataset

from course_lib.models import TransformerClassifier, TransformerConfig
from course_lib.text import TextPipeline, vocab_from_words
from course_lib.training import (LengthGroupedBatchSampler, PadCollator, make_loader, predict, tokenize_dataset,
                                 train_classifier)

WORDS = ["good", "great", "bad", "awful", "the", "film", "was", "very"]


def toy_dataset(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    rows = []
    for i in range(n):
        label = i % 2
        word = ["bad", "awful"][i % 3 % 2] if label == 0 else ["good", "great"][i % 3 % 2]
        filler = ["the", "film", "was", "very"][: 1 + int(torch.randint(0, 4, (1,), generator=g))]
        rows.append({"text": " ".join(filler + [word]), "label": label})
    return Dataset.from_list(rows)


def setup():
    vocab = vocab_from_words(WORDS)
    torch.manual_seed(0)
    emb = torch.randn(len(vocab), 8)
    return vocab, TextPipeline(vocab, max_len=16), emb


def test_length_grouped_batches_cover_everything_once():
    lengths = [5, 1, 9, 3, 7, 2, 8]
    batches = list(LengthGroupedBatchSampler(lengths, 3, seed=1))
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert list(LengthGroupedBatchSampler(lengths, 3, seed=1)) == batches  # deterministic
    with pytest.raises(ValueError):
        LengthGroupedBatchSampler(lengths, 0)


def test_collator_pads_to_the_longest_in_batch():
    batch = PadCollator(pad_index=1)([{"input_ids": [4, 5], "label": 0}, {"input_ids": [6], "label": 1}])
    assert batch["input_ids"].tolist() == [[4, 5], [6, 1]]
    assert batch["attention_mask"].tolist() == [[True, True], [True, False]]


def test_training_learns_a_toy_task_and_keeps_best_checkpoint(tmp_path):
    vocab, pipe, emb = setup()
    train = tokenize_dataset(toy_dataset(200), pipe)
    valid = tokenize_dataset(toy_dataset(60, seed=1), pipe)
    model = TransformerClassifier(emb, TransformerConfig(dim_feedforward=16, max_len=16), pad_index=vocab.pad_index)
    hist = train_classifier(model, make_loader(train, 16, 1, shuffle=True), make_loader(valid, 64, 1), epochs=6,
                            lr=3e-3, checkpoint=tmp_path / "best.safetensors", log=lambda s: None)
    assert (tmp_path / "best.safetensors").exists()
    assert hist.best_val_accuracy >= 0.9
    assert hist.train_loss[-1] < hist.train_loss[0]
    labels = ["neg", "pos"]
    assert predict(model, ["the film was great", "the film was awful"], pipe, labels) == ["pos", "neg"]


def test_predict_rejects_empty_text_and_truncates_huge_text():
    vocab, pipe, emb = setup()
    model = TransformerClassifier(emb, TransformerConfig(max_len=16), pad_index=vocab.pad_index)
    with pytest.raises(ValueError, match="empty text"):
        predict(model, "", pipe, ["neg", "pos"])
    assert predict(model, "great " * 100_000, pipe, ["neg", "pos"]) in ("neg", "pos")


def test_training_needs_trainable_parameters(tmp_path):
    vocab, pipe, emb = setup()
    model = TransformerClassifier(emb, pad_index=1)
    for p in model.parameters():
        p.requires_grad = False
    loader = make_loader(tokenize_dataset(toy_dataset(8), pipe), 4, 1)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train_classifier(model, loader, loader, epochs=1, lr=1e-3, checkpoint=tmp_path / "x.safetensors")
