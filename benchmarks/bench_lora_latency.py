"""LoRA inference latency: the base model vs LoRA unmerged vs LoRA merged, on the same input, side by side.

Unmerged, every wrapped layer runs two extra thin matmuls (``x A^T`` then ``B^T``), a scale and an add. Merged,
``scaling * B A`` is folded into the base weight; ``merge()`` keeps the wrapper (so it can ``unmerge()``), and
``merge_and_unload()`` puts plain ``nn.Linear`` layers back. The four variants are timed round-robin in one process
(each round times every variant once, in a rotating order) and we report median latencies and ratios to the base.
Targets: merged within 5% of the base, unmerged overhead at most 15%.

Models (``--model``): ``mlp`` (default; 4 linear layers of width ``--width``, LoRA on all of them: the case where
linear layers are all the work) and ``encoder`` (chapter 1's 2-layer Transformer classifier, LoRA on ``linear1`` and
``linear2``; note that wrapped encoder layers run PyTorch's Python path instead of the fused inference kernel).

Usage: ``python benchmarks/bench_lora_latency.py [--model mlp|encoder] [--rounds 30] [--batch 64] [--rank 8]
[--threads 1]``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from torch import nn

from course_lib.nn.encoder import TransformerClassifier, TransformerConfig
from course_lib.nn.lora import apply_lora, lora_layers, merge_and_unload, merge_lora


def build(model: str, width: int, batch: int):
    """(base model, target layer names, input) for the chosen model."""
    torch.manual_seed(0)
    if model == "mlp":
        layers = []
        for _ in range(4):
            layers += [nn.Linear(width, width), nn.ReLU()]
        net = nn.Sequential(*layers[:-1])
        targets = [str(i) for i in range(0, 8, 2)]
        return net, targets, (torch.randn(batch, width),)
    if model == "encoder":
        net = TransformerClassifier(torch.randn(1000, 100), TransformerConfig(num_labels=2))
        ids = torch.randint(2, 1000, (batch, 128))
        return net, ["linear1", "linear2"], (ids,)
    raise ValueError(f"Unknown model {model!r}; choose one of: mlp, encoder")


def variants(base: nn.Module, targets: list[str], rank: int) -> dict[str, nn.Module]:
    unmerged = copy.deepcopy(base)
    apply_lora(unmerged, targets, r=rank, lora_alpha=2 * rank)
    for layer in lora_layers(unmerged).values():  # trained-looking, non-zero B
        nn.init.normal_(layer.lora_B.weight, std=0.01)
    merged = merge_lora(copy.deepcopy(unmerged))
    unloaded = merge_and_unload(copy.deepcopy(unmerged))
    return {"base": base, "LoRA unmerged": unmerged, "LoRA merged": merged, "merged + unloaded": unloaded}


@torch.inference_mode()
def time_once(model: nn.Module, inputs, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        model(*inputs)
    return (time.perf_counter() - start) / repeats


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp", choices=["mlp", "encoder"])
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=10, help="forward passes per timing")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: steadier timings on a shared CPU; 0: torch's default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    base, targets, inputs = build(args.model, args.width, args.batch)
    models = variants(base, targets, args.rank)
    for m in models.values():
        m.eval()
    with torch.inference_mode():
        reference = models["LoRA unmerged"](*inputs)
        for name in ("LoRA merged", "merged + unloaded"):
            diff = (models[name](*inputs) - reference).abs().max().item()
            assert diff < 1e-3, f"{name} differs from unmerged by {diff}"
        for m in models.values():  # warm-up
            time_once(m, inputs, 3)
    times = {name: [] for name in models}
    names = list(models)
    for r in range(args.rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order each round
            times[name].append(time_once(models[name], inputs, args.repeats))
    median = {name: statistics.median(t) for name, t in times.items()}
    print(f"model={args.model} batch={args.batch} rank={args.rank} threads={torch.get_num_threads()} "
          f"rounds={args.rounds}x{args.repeats}")
    print(f"{'variant':<20} {'median ms':>10} {'/ base':>8}")
    result = {}
    for name, t in median.items():
        ratio = t / median["base"]
        print(f"{name:<20} {1000 * t:>10.3f} {ratio:>8.3f}")
        if name != "base":
            result[f"{name} / base"] = {"ratio": ratio, "ms": 1000 * t}
    print(f"merged within 5% of base: {result['LoRA merged / base']['ratio'] <= 1.05} "
          f"(merged + unloaded: {result['merged + unloaded / base']['ratio'] <= 1.05}); "
          f"unmerged overhead <= 15%: {result['LoRA unmerged / base']['ratio'] <= 1.15}")
    return result


if __name__ == "__main__":
    main()
