import time

import pytest

from course_lib import hub


def test_offline_rejects_hub_id_fast_and_names_alternative():
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="offline counterpart is 'smollm2'"):
        hub.reject_hub_id_offline(hub.GPT2)
    assert time.perf_counter() - start < 1
    with pytest.raises(RuntimeError, match="checkpoint\\('openai-community/gpt2', source='offline'\\)"):
        hub.reject_hub_id_offline("gpt2")  # a legacy id: the hint names the canonical one


def test_unknown_model_lists_registry():
    with pytest.raises(KeyError, match="registry knows"):
        hub.offline_model("not/a-model")


def test_local_dir_passes(tmp_path):
    hub.reject_hub_id_offline(str(tmp_path))


def test_checkpoint_resolution():
    assert hub.checkpoint(hub.GPT2, "hub") == "openai-community/gpt2"
    assert (hub.minilm_dir() / "config.json").exists()
    assert hub.checkpoint(hub.BERT_CASED, "offline") == str(hub.minilm_dir())
    with pytest.raises(LookupError, match="stand-in"):
        hub.checkpoint(hub.BERT_UNCASED, "offline")
    with pytest.raises(ValueError, match="choose one of"):
        hub.checkpoint(hub.GPT2, "cloud")


def test_registry_holds_canonical_ids_only():
    assert all("/" in hub_id for hub_id in hub.OFFLINE_MODELS)
    assert set(hub.LEGACY_IDS.values()) <= set(hub.OFFLINE_MODELS)
    assert not set(hub.LEGACY_IDS) & set(hub.OFFLINE_MODELS)


@pytest.mark.parametrize("legacy, canonical", sorted(hub.LEGACY_IDS.items()))
def test_legacy_short_ids_resolve_with_a_deprecation_warning_naming_the_canonical_id(legacy, canonical):
    with pytest.warns(DeprecationWarning, match=f"use '{canonical}'") as record:
        assert hub.checkpoint(legacy, "hub") == canonical
    assert record[0].filename == __file__  # attributed to the caller, so the warnings check names the caller
    with pytest.warns(DeprecationWarning):
        assert hub.offline_model(legacy) == hub.OFFLINE_MODELS[canonical]


def test_every_registry_entry_is_described():
    for hub_id in hub.OFFLINE_MODELS:
        assert hub_id in hub.describe(hub_id, "offline")
        assert hub.describe(hub_id, "hub") == f"{hub_id} (from the hub)"


def test_smollm2_gguf_is_found_without_importing_its_cli():
    assert (hub.smollm2_gguf_dir() / hub.SMOLLM2_GGUF).exists()


def test_load_pretrained_loads_float32_whatever_the_checkpoint_holds(tmp_path):
    import torch
    from transformers import BertConfig, BertModel

    config = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16)
    BertModel(config).to(torch.bfloat16).save_pretrained(tmp_path)
    model = hub.load_pretrained(BertModel, str(tmp_path))
    assert {p.dtype for p in model.parameters()} == {torch.float32}


@pytest.mark.slow
def test_smollm2_converted_checkpoint_loads_and_is_keyed_by_what_shapes_it(tmp_cache):
    from transformers import AutoConfig

    path = hub.smollm2_dir()
    assert path.name.startswith("smollm2-135m-instruct-") and path.parent == tmp_cache / "models"
    cfg = AutoConfig.from_pretrained(path)
    assert cfg.model_type == "llama" and not hasattr(cfg, "quantization_config")
    assert hub.smollm2_dir() == path  # the second call reads the cache
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]  # published atomically


def test_every_registered_checkpoint_has_an_offline_entry():
    from course_lib import hub_ids

    assert set(hub.OFFLINE_MODELS) == set(hub_ids.MODELS)
    assert set(hub.LEGACY_IDS.values()) <= set(hub_ids.MODELS)
