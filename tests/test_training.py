import os

import pytest
import torch
from datasets import Dataset

from course_lib.data.text import TextPipeline, vocab_from_words
from course_lib.nn.encoder import TransformerClassifier, TransformerConfig
from course_lib.train.batching import LengthGroupedBatchSampler, PadCollator, make_loader, tokenize_dataset
from course_lib.train.classifier import evaluate, predict, train_classifier

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
                            learning_rate=3e-3, checkpoint=tmp_path / "best.safetensors", log=lambda s: None)
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
        train_classifier(model, loader, loader, epochs=1, learning_rate=1e-3, checkpoint=tmp_path / "x.safetensors")


# --- train_classifier: best epoch, patience, head learning rate ------------------------------------------------


def toy_run(tmp_path, monkeypatch, accuracies, *, epochs, patience=3, **kwargs):
    """Train the toy classifier while validation reports the scripted ``accuracies``; also returns each epoch's
    weights as they were when validation measured them."""
    import course_lib.train.classifier as training

    vocab, pipe, emb = setup()
    train = tokenize_dataset(toy_dataset(32), pipe)
    valid = tokenize_dataset(toy_dataset(16, seed=1), pipe)
    model = TransformerClassifier(emb, TransformerConfig(dim_feedforward=16, max_len=16), pad_index=vocab.pad_index)
    snapshots, scripted = [], iter(accuracies)

    def scripted_evaluate(*args, **kw):
        snapshots.append({k: v.clone() for k, v in model.state_dict().items()})
        return {**evaluate(*args, **kw), "accuracy": next(scripted)}

    monkeypatch.setattr(training, "evaluate", scripted_evaluate)
    hist = train_classifier(model, make_loader(train, 8, 1, shuffle=True), make_loader(valid, 16, 1), epochs=epochs,
                            learning_rate=kwargs.pop("learning_rate", 3e-3), patience=patience,
                            checkpoint=tmp_path / "best.safetensors", log=lambda s: None, **kwargs)
    return model, hist, snapshots


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_train_classifier_restores_the_best_epochs_weights(tmp_path, monkeypatch):
    model, hist, snapshots = toy_run(tmp_path, monkeypatch, [0.5, 0.9, 0.6, 0.7], epochs=4)
    assert hist.best_epoch == 2 and hist.best_val_accuracy == 0.9 and len(snapshots) == 4
    final = model.state_dict()
    assert same_weights(final, snapshots[1])  # epoch 2's weights, not the last epoch's
    assert not same_weights(final, snapshots[3])


def test_train_classifier_stops_after_patience_epochs_without_improvement(tmp_path, monkeypatch):
    _, hist, snapshots = toy_run(tmp_path, monkeypatch, [0.6, 0.5, 0.6, 0.9, 0.9, 0.9], epochs=6, patience=2)
    assert len(hist.val_accuracy) == len(snapshots) == 3 and hist.best_epoch == 1  # epochs 2 and 3: no better
    _, hist, _ = toy_run(tmp_path, monkeypatch, [0.6, 0.5, 0.7, 0.5, 0.5, 0.9], epochs=6, patience=2)
    assert len(hist.val_accuracy) == 5 and hist.best_epoch == 3  # an improvement resets the count


def two_process_worker(out_dir: str):
    """One of two processes started by ``accelerate.debug_launcher`` (see the test below): trains the toy classifier
    and writes what it saw to ``rank<i>.json`` and its final weights to ``final-<i>.safetensors``."""
    import json
    from pathlib import Path

    from safetensors.torch import save_file

    import course_lib.train.classifier as training

    torch.set_num_threads(1)
    rank, out = torch.distributed.get_rank(), Path(out_dir)
    saves, save = [], training.save_weights

    def counting_save(model, path, **kwargs):
        saves.append(str(path))
        return save(model, path, **kwargs)

    training.save_weights = counting_save  # this process's own copy of the module
    vocab, pipe, emb = setup()
    train = tokenize_dataset(toy_dataset(64), pipe)
    valid = tokenize_dataset(toy_dataset(45, seed=1), pipe)  # 6 batches of 8, the last one short
    torch.manual_seed(0)
    model = TransformerClassifier(emb, TransformerConfig(dim_feedforward=16, max_len=16), pad_index=vocab.pad_index)
    hist = train_classifier(model, make_loader(train, 8, 1, shuffle=True), make_loader(valid, 8, 1), epochs=4,
                            learning_rate=3e-3, patience=2, checkpoint=out / "checkpoint" / "best.safetensors",
                            log=lambda s: None)
    whole = evaluate(model, make_loader(valid, 8, 1))  # this process alone, on every validation text
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(out / f"final-{rank}.safetensors"))
    (out / f"rank{rank}.json").write_text(json.dumps({
        "best_epoch": hist.best_epoch, "val_accuracy": hist.val_accuracy, "val_loss": hist.val_loss,
        "train_loss": hist.train_loss, "saves": saves, "whole_accuracy": whole["accuracy"]}))


def test_two_processes_agree_on_the_best_epoch_and_write_one_checkpoint(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    from safetensors.torch import load_file

    here = Path(__file__).resolve().parent
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import torch; torch.set_num_threads(1); "
            "from accelerate import debug_launcher; import test_training as t; "
            "debug_launcher(t.two_process_worker, (sys.argv[2],), num_processes=2)")
    done = subprocess.run([sys.executable, "-c", code, str(here), str(tmp_path)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1", "COURSE_LIB_PROGRESS": "0"})
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    for key in ("best_epoch", "val_accuracy", "val_loss", "train_loss"):
        assert ranks[0][key] == ranks[1][key], key
    best = ranks[0]["best_epoch"]
    # the validation accuracy was measured on all 45 texts once each, not on one process's share
    assert ranks[0]["val_accuracy"][best - 1] == ranks[0]["whole_accuracy"] == ranks[1]["whole_accuracy"]
    improvements = sum(a > max([-1.0] + ranks[0]["val_accuracy"][:i]) for i, a in enumerate(ranks[0]["val_accuracy"]))
    assert len(ranks[0]["saves"]) == improvements >= 1 and ranks[1]["saves"] == []  # only the main process saves
    assert sorted(p.name for p in (tmp_path / "checkpoint").iterdir()) == ["best.safetensors"]
    saved = load_file(str(tmp_path / "checkpoint" / "best.safetensors"))
    for r in (0, 1):
        final = load_file(str(tmp_path / f"final-{r}.safetensors"))
        assert final.keys() == saved.keys() and all(torch.equal(final[k], saved[k]) for k in saved)
