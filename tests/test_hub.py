import time

import pytest

from course_lib import hub


def test_offline_rejects_hub_id_fast_and_names_alternative():
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="offline counterpart is 'smollm2'"):
        hub.reject_hub_id_offline("gpt2")
    assert time.perf_counter() - start < 1


def test_unknown_model_lists_registry():
    with pytest.raises(KeyError, match="registry knows"):
        hub.offline_model("not/a-model")


def test_local_dir_passes(tmp_path):
    hub.reject_hub_id_offline(str(tmp_path))


def test_checkpoint_resolution():
    assert hub.checkpoint("gpt2", "hub") == "gpt2"
    assert (hub.minilm_dir() / "config.json").exists()
    assert hub.checkpoint("bert-base-cased", "offline") == str(hub.minilm_dir())
    with pytest.raises(LookupError, match="stand-in"):
        hub.checkpoint("bert-base-uncased", "offline")
    with pytest.raises(ValueError, match="choose one of"):
        hub.checkpoint("gpt2", "cloud")


def test_every_registry_entry_is_described():
    for hub_id in hub.OFFLINE_MODELS:
        assert hub_id in hub.describe(hub_id, "offline")


def test_smollm2_gguf_is_found_without_importing_its_cli():
    assert (hub.smollm2_gguf_dir() / hub.SMOLLM2_GGUF).exists()


@pytest.mark.slow
def test_smollm2_converted_checkpoint_loads():
    from transformers import AutoConfig

    path = hub.smollm2_dir()
    cfg = AutoConfig.from_pretrained(path)
    assert cfg.model_type == "llama" and not hasattr(cfg, "quantization_config")
