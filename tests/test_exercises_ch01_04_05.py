"""The experiment exercises of chapters 1, 4 and 5, read from the chapters' markdown (``book/*.md``).

For every exercise: the reference solution on the page passes its checker, the learner stub (what
``scripts/make_learner.py`` makes of it) gets NOT YET with the NotImplementedError hint, and a plausible wrong
answer gets NOT YET with a hint that names the mistake. Also: the section follows the convention of
:mod:`course_lib.grading` (solutions collapsed, each solution cell followed by one checker call).
"""

import copy
import re
import time
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
from course_lib.grader import strip_solutions

CELL = re.compile(r"```\{code-cell\} ipython3\n(.*?)```", re.S)
CHAPTERS = {"01": "01_transfer_learning.md", "04": "04_adapters.md", "05": "05_lora.md"}
# exercise id -> (chapter, function name, checker name)
EXERCISES = {
    "1.1": ("01", "bow_accuracy", "check_bow_accuracy"),
    "1.2": ("01", "dropout_noise", "check_dropout_noise"),
    "1.3": ("01", "cross_talk", "check_cross_talk"),
    "4.1": ("04", "init_change", "check_init_change"),
    "4.2": ("04", "adapter_accuracy", "check_adapter_accuracy"),
    "4.3": ("04", "largest_bottleneck", "check_largest_bottleneck"),
    "5.1": ("05", "rank_for_energy", "check_rank_for_energy"),
    "5.2": ("05", "update_energy", "check_update_energy"),
    "5.3": ("05", "lora_accuracy", "check_lora_accuracy"),
}


def exercise_cells(chapter: str) -> list[tuple[list[str], str]]:
    """``(tags, source)`` of every code cell from the ``## Exercises`` heading to the end of the chapter."""
    text = (ROOT / "book" / CHAPTERS[chapter]).read_text(encoding="utf-8")
    section = text[text.index("\n## Exercises\n"):]
    cells = []
    for body in CELL.findall(section):
        lines = body.split("\n")
        tags = []
        while lines and lines[0].startswith(":"):
            if lines[0].startswith(":tags:"):
                tags = re.findall(r"[\w-]+", lines[0].split(":", 2)[2])
            lines.pop(0)
        cells.append((tags, "\n".join(lines).strip("\n") + "\n"))
    return cells


def functions(chapter: str, stub: bool = False) -> dict:
    """Run the chapter's solution cells (or their learner stubs) in one namespace, as the notebook would."""
    namespace: dict = {}
    for _, source in exercise_cells(chapter):
        if "# BEGIN SOLUTION" in source:
            exec(compile(strip_solutions(source)[0] if stub else source, f"<{chapter} exercises>", "exec"), namespace)
    return namespace


def verdict(capsys, exercise: str, fn) -> str:
    chapter, _, checker = EXERCISES[exercise]
    module = __import__(f"course_lib.exercises.ch{chapter}", fromlist=[checker])
    capsys.readouterr()
    ok = getattr(module, checker)(fn)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, f"a checker prints exactly one line, got {lines}"
    assert ok == (lines[0] == f"Exercise {exercise}: PASS")
    return lines[0]


# ------------------------------------------------------------------------------------------- the section itself


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_section_follows_the_grading_convention(chapter):
    cells = exercise_cells(chapter)
    solutions = [i for i, (_, src) in enumerate(cells) if "# BEGIN SOLUTION" in src]
    ids = [e for e, (ch, _, _) in EXERCISES.items() if ch == chapter]
    assert len(solutions) == len(ids) >= 3
    for i, exercise in zip(solutions, ids):
        tags, source = cells[i]
        _, name, checker = EXERCISES[exercise]
        assert "hide-input" not in tags, f"{exercise}: the solution dropdown hides it (tests/test_grading.py)"
        assert re.search(rf"^def {name}\(", source, re.M), f"{exercise}: the cell defines {name}"
        assert cells[i + 1][1].strip() == f"passed = ch{chapter}.{checker}({name})", cells[i + 1][1]
    # self-contained: the first code cell does its own imports
    assert "from course_lib.exercises import" in cells[0][1]


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_stub_gets_not_yet(exercise, capsys):
    chapter, name, _ = EXERCISES[exercise]
    fn = functions(chapter, stub=True)[name]
    with pytest.raises(NotImplementedError):
        fn(*([None] * fn.__code__.co_argcount))
    line = verdict(capsys, exercise, fn)
    assert line == (f"Exercise {exercise}: NOT YET - the function still raises NotImplementedError: "
                    "write your solution")


# ------------------------------------------------------------------------ reference passes, wrong answers do not


def _run(capsys, exercise, fn, budget_s=20.0):  # ~10 s on an idle 2-core CPU
    start = time.perf_counter()
    line = verdict(capsys, exercise, fn)
    assert time.perf_counter() - start < budget_s, f"checker {exercise} took over {budget_s} s"
    return line


@pytest.mark.slow
def test_1_1_bow_truncation(capsys):
    fn = functions("01")["bow_accuracy"]
    assert _run(capsys, "1.1", fn) == "Exercise 1.1: PASS"

    def whole_reviews(train, test, max_tokens):  # forgets to cut
        return fn(train, test, None)

    assert "you read whole reviews" in _run(capsys, "1.1", whole_reviews)

    def characters(train, test, max_tokens):  # cuts characters, not tokens
        from course_lib.exercises.ch01 import _bow_reference

        cut = (lambda t: t[:max_tokens]) if max_tokens else (lambda t: t)
        return _bow_reference({"text": [cut(t) for t in train["text"]], "label": train["label"]},
                              {"text": [cut(t) for t in test["text"]], "label": test["label"]}, None)

    assert _run(capsys, "1.1", characters).startswith("Exercise 1.1: NOT YET - max_tokens=128: expected")


def test_1_2_dropout_noise(capsys):
    fn = functions("01")["dropout_noise"]
    assert _run(capsys, "1.2", fn) == "Exercise 1.2: PASS"

    def two_train_passes(model, input_ids):
        with torch.no_grad():
            model.train()
            a, b = model.encode(input_ids), model.encode(input_ids)
        return ((a - b).norm(dim=1) / b.norm(dim=1)).mean().item()

    assert "two train-mode passes are both noisy" in _run(capsys, "1.2", two_train_passes)

    def eval_only(model, input_ids):
        with torch.no_grad():
            model.eval()
            a, b = model.encode(input_ids), model.encode(input_ids)
        return ((a - b).norm(dim=1) / b.norm(dim=1)).mean().item()

    assert "you measured no change" in _run(capsys, "1.2", eval_only)

    def logits(model, input_ids):  # measures the head's output, not the features
        with torch.no_grad():
            model.eval()
            clean = model(input_ids)
            model.train()
            noisy = model(input_ids)
        return ((noisy - clean).norm(dim=1) / clean.norm(dim=1)).mean().item()

    assert _run(capsys, "1.2", logits).startswith("Exercise 1.2: NOT YET - dropout 0.1: expected about")


def test_1_3_cross_talk(capsys):
    fn = functions("01")["cross_talk"]
    assert _run(capsys, "1.3", fn) == "Exercise 1.3: PASS"

    def mean_change(layer, x):
        with torch.no_grad():
            changed = x.clone()
            changed[1] = 0.0
            return (layer(x)[0] - layer(changed)[0]).abs().mean().item()

    assert _run(capsys, "1.3", mean_change).startswith("Exercise 1.3: NOT YET - with batch_first=False expected")


def test_4_1_init_change(capsys):
    fn = functions("04")["init_change"]
    assert _run(capsys, "4.1", fn) == "Exercise 4.1: PASS"
    from course_lib.nn.adapters import FeatureAdapter, add_adapters

    def reset_all(pretrained, x, bottleneck, seed):  # re-draws the down-projections too: another draw
        torch.manual_seed(seed)
        adapted = copy.deepcopy(pretrained)
        add_adapters(adapted, ["fc1", "fc2"], bottleneck)
        with torch.no_grad():
            base = pretrained(x)
            for module in adapted.modules():
                if isinstance(module, FeatureAdapter):
                    module.down.reset_parameters()
                    module.up.reset_parameters()
            return 0.0, ((adapted(x) - base).norm() / base.norm()).item()

    assert "not the draw" in _run(capsys, "4.1", reset_all)

    def absolute(pretrained, x, bottleneck, seed):  # forgets to divide by the pretrained logits' norm
        torch.manual_seed(seed)
        adapted = copy.deepcopy(pretrained)
        add_adapters(adapted, ["fc1", "fc2"], bottleneck)
        with torch.no_grad():
            base = pretrained(x)
            for module in adapted.modules():
                if isinstance(module, FeatureAdapter):
                    module.up.reset_parameters()
            return 0.0, (adapted(x) - base).norm().item()

    assert "Divide the norm" in _run(capsys, "4.1", absolute)

    def measured_after_reset(pretrained, x, bottleneck, seed):  # no zero for the package's init
        identity, default = fn(pretrained, x, bottleneck, seed)
        return default, default

    assert "the change should be 0" in _run(capsys, "4.1", measured_after_reset)


def test_4_2_adapter_accuracy(capsys):
    fn = functions("04")["adapter_accuracy"]
    assert _run(capsys, "4.2", fn) == "Exercise 4.2: PASS"
    from course_lib.nn.adapters import add_adapters

    def on_training_images(pretrained, task, bottleneck, seed, steps, learning_rate):
        torch.manual_seed(seed)
        model = copy.deepcopy(pretrained)
        model.fc3 = nn.Linear(64, 5)
        add_adapters(model, ["fc1", "fc2"], bottleneck, modules_to_save=["fc3"])
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(task.x_train), task.y_train).backward()
            optimizer.step()
        with torch.no_grad():
            return (model(task.x_train).argmax(-1) == task.y_train).float().mean().item()

    assert "accuracy on the training images" in _run(capsys, "4.2", on_training_images)

    def head_only(pretrained, task, bottleneck, seed, steps, learning_rate):  # never adds the adapters
        torch.manual_seed(seed)
        model = copy.deepcopy(pretrained)
        model.fc3 = nn.Linear(64, 5)
        optimizer = torch.optim.Adam(model.fc3.parameters(), lr=learning_rate)
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(task.x_train), task.y_train).backward()
            optimizer.step()
        with torch.no_grad():
            return (model(task.x_test).argmax(-1) == task.y_test).float().mean().item()

    assert _run(capsys, "4.2", head_only).startswith("Exercise 4.2: NOT YET - bottleneck 1: expected test accuracy")


def test_4_3_largest_bottleneck(capsys):
    fn = functions("04")["largest_bottleneck"]
    assert _run(capsys, "4.3", fn) == "Exercise 4.3: PASS"

    def no_biases(model, budget):
        head = model.classifier.in_features * 2 + 2
        outs = [layer.linear1.out_features for layer in model.transformer_encoder.layers] + \
               [layer.linear2.out_features for layer in model.transformer_encoder.layers]
        return max(0, (budget - head) // sum(2 * o for o in outs))

    assert "down (o*b + b)" in _run(capsys, "4.3", no_biases)


def test_5_1_rank_for_energy(capsys):
    fn = functions("05")["rank_for_energy"]
    assert _run(capsys, "5.1", fn) == "Exercise 5.1: PASS"

    def unsquared(delta_w, share):
        s = torch.linalg.svdvals(delta_w)
        return int((torch.cumsum(s, 0) / s.sum() < share).sum().item()) + 1

    assert "Square the singular values" in _run(capsys, "5.1", unsquared)


def test_5_2_update_energy(capsys):
    fn = functions("05")["update_energy"]
    assert _run(capsys, "5.2", fn) == "Exercise 5.2: PASS"

    def finetuned_weight(pretrained, task, seed, steps, learning_rate):  # the weight, not its update
        torch.manual_seed(seed)
        model = copy.deepcopy(pretrained)
        model.fc3 = nn.Linear(64, 5)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(task.x_train), task.y_train).backward()
            optimizer.step()
        energy = torch.linalg.svdvals(model.fc1.weight.detach()) ** 2
        return torch.cumsum(energy, 0) / energy.sum()

    assert "use the update" in _run(capsys, "5.2", finetuned_weight)

    def unsquared(pretrained, task, seed, steps, learning_rate):
        shares = fn(pretrained, task, seed, steps, learning_rate)
        energy = torch.diff(shares, prepend=torch.zeros(1))  # squared singular values / total
        s = energy.sqrt()
        return torch.cumsum(s, 0) / s.sum()

    assert "square them" in _run(capsys, "5.2", unsquared)


def test_5_3_lora_accuracy(capsys):
    fn = functions("05")["lora_accuracy"]
    assert _run(capsys, "5.3", fn) == "Exercise 5.3: PASS"
    from course_lib.nn.lora import apply_lora

    def fixed_rank(pretrained, task, r, seed, steps, learning_rate):  # ignores r
        return fn(pretrained, task, 2, seed, steps, learning_rate)

    assert _run(capsys, "5.3", fixed_rank).startswith("Exercise 5.3: NOT YET - rank 1: expected test accuracy")

    def on_training_images(pretrained, task, r, seed, steps, learning_rate):
        torch.manual_seed(seed)
        model = copy.deepcopy(pretrained)
        model.fc3 = nn.Linear(64, 5)
        apply_lora(model, ["fc1", "fc2"], r=r, lora_alpha=r, modules_to_save=["fc3"])
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
        for _ in range(steps):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(task.x_train), task.y_train).backward()
            optimizer.step()
        with torch.no_grad():
            return (model(task.x_train).argmax(-1) == task.y_train).float().mean().item()

    assert "accuracy on the training images" in _run(capsys, "5.3", on_training_images)
