"""The precision decision, with the GPU's answers faked: each kind of machine the course may meet."""

import contextlib

import pytest
import torch

from course_lib import precision
from course_lib.precision import Precision, choose_precision


def fake_gpu(monkeypatch, name: str, capability: tuple[int, int], native_bf16: bool):
    """Make ``torch.cuda`` describe a GPU. Like the real query, ``is_bf16_supported()`` also says yes where bfloat16
    is only emulated (any GPU here), unless asked with ``including_emulation=False``."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                        lambda including_emulation=True: native_bf16 or including_emulation)


def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    # a CPU machine must not even ask: these would say yes
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))


@pytest.mark.parametrize("requested", ["no", "bf16", "fp16"])
def test_a_cpu_always_trains_in_float32(monkeypatch, requested):
    no_gpu(monkeypatch)
    chosen = choose_precision(requested)
    assert chosen.mixed_precision == "no" and chosen.weights_dtype == torch.float32
    assert chosen.trainer_flags == {"bf16": False, "fp16": False} and chosen.autocast_dtype is None
    assert ("no CUDA GPU" in chosen.reason) == (requested != "no")


def test_bf16_where_the_gpu_has_it_natively(monkeypatch):
    fake_gpu(monkeypatch, "NVIDIA H100", (9, 0), native_bf16=True)
    chosen = choose_precision("bf16")
    assert chosen.mixed_precision == "bf16" and chosen.weights_dtype == torch.float32  # master weights stay fp32
    assert chosen.trainer_flags == {"bf16": True, "fp16": False} and chosen.autocast_dtype == torch.bfloat16
    assert "NVIDIA H100" in chosen.reason and "natively" in chosen.reason


def test_emulated_bf16_falls_back_to_fp16_with_a_scaler(monkeypatch):
    fake_gpu(monkeypatch, "Tesla T4", (7, 5), native_bf16=False)  # bfloat16 only emulated
    chosen = choose_precision("bf16")
    assert chosen.mixed_precision == "fp16" and chosen.weights_dtype == torch.float32
    assert chosen.trainer_flags == {"bf16": False, "fp16": True} and chosen.autocast_dtype == torch.float16
    assert "gradient scaler" in chosen.reason and "7.5" in chosen.reason


def test_a_gpu_without_bf16_or_fp16_tensor_cores_trains_in_float32(monkeypatch):
    fake_gpu(monkeypatch, "Tesla P100", (6, 0), native_bf16=False)
    for requested in ("bf16", "fp16"):
        chosen = choose_precision(requested)
        assert chosen.mixed_precision == "no" and chosen.trainer_flags == {"bf16": False, "fp16": False}
        assert "6.0" in chosen.reason


def test_explicit_requests_are_honoured(monkeypatch):
    fake_gpu(monkeypatch, "NVIDIA A100", (8, 0), native_bf16=True)
    assert choose_precision("fp16").mixed_precision == "fp16"  # not upgraded to bf16
    assert "as requested" in choose_precision("fp16").reason
    assert choose_precision("no").mixed_precision == "no"
    with pytest.raises(ValueError, match="choose one of: no, bf16, fp16"):
        choose_precision("float16")


def test_accelerate_knows_every_choice():
    from accelerate.utils import PrecisionType

    assert set(precision.REQUESTS) <= set(PrecisionType.list())


def test_autocast_context():
    assert isinstance(Precision("no", torch.float32, "").autocast("cpu"), contextlib.nullcontext)
    a = torch.ones(2, 2)
    with Precision("bf16", torch.float32, "").autocast("cpu"):
        assert (a @ a).dtype == torch.bfloat16
    assert (a @ a).dtype == torch.float32


def bf16_everywhere(monkeypatch):
    """Grant bf16 on this machine (a CPU can run bf16 autocast, slowly): for checking how the loops use it."""
    monkeypatch.setattr(precision, "choose_precision",
                        lambda requested="bf16": Precision("bf16", torch.float32, "bf16 (test)"))


def test_accelerators_of_different_precisions_follow_each_other(monkeypatch):
    assert precision.make_accelerator("no").mixed_precision == "no"
    with monkeypatch.context() as m:
        bf16_everywhere(m)
        assert precision.make_accelerator("bf16").mixed_precision == "bf16"  # accelerate alone refuses the change
    assert precision.make_accelerator("no").mixed_precision == "no"
    assert precision.training_device().type in ("cpu", "cuda", "mps", "xpu")


def test_train_classifier_asks_the_helper(tmp_path, monkeypatch):
    from course_lib.nn.classic import TextClassifier
    from course_lib.train.classifier import train_classifier

    no_gpu(monkeypatch)
    torch.manual_seed(0)
    model = TextClassifier(torch.randn(6, 4), num_labels=2, hidden=4, pad_index=1)
    ids = torch.tensor([[2, 3], [4, 5], [2, 5], [4, 3]])
    loader = [{"input_ids": ids, "attention_mask": torch.ones_like(ids, dtype=torch.bool),
               "labels": torch.tensor([0, 1, 0, 1])}]
    train_classifier(model, loader, loader, epochs=1, learning_rate=1e-3, checkpoint=tmp_path / "c.safetensors",
                     mixed_precision="bf16", log=lambda s: None)
    assert "_original_forward" not in model.__dict__  # accelerate would have wrapped forward in CPU bf16 autocast


class Captured(Exception):
    pass


@pytest.mark.parametrize("gpu, flags", [
    (("NVIDIA H100", (9, 0), True), {"bf16": True, "fp16": False}),
    (("Tesla V100", (7, 0), False), {"bf16": False, "fp16": True}),
    (None, {"bf16": False, "fp16": False}),
])
def test_hf_trainers_get_the_helpers_flags(tmp_path, monkeypatch, gpu, flags):
    from transformers import TrainingArguments

    from course_lib.chapters import ch06_sft as sft
    from course_lib.config import Profile
    from course_lib.experiments import mlm

    if gpu:
        fake_gpu(monkeypatch, *gpu)
    else:
        no_gpu(monkeypatch)
    seen = {}

    def record(args):  # TrainingArguments' checks would ask the (fake) GPU for real: stop before them
        seen.update(bf16=args.bf16, fp16=args.fp16)
        raise Captured

    monkeypatch.setattr(TrainingArguments, "__post_init__", record)  # also reached from trl's SFTConfig
    for name, build in [
        ("mlm", lambda: mlm.make_trainer(None, None, list(range(32)), None, mlm.config_for(Profile("fast")),
                                         tmp_path)),
        ("sft", lambda: sft.sft_config(sft.config_for(Profile("full")), tmp_path)),
    ]:
        seen.clear()
        with pytest.raises(Captured):
            build()
        assert seen == flags, name  # sft: both given, since trl turns bf16 on when it is left out
