"""course_lib.chapters.ch07_summary on tiny results files written here: loading, the two errors, rows, plots,
runtime table, and the committed verdicts of the comparison protocol."""

import json

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from course_lib.chapters import ch07_summary as summary  # noqa: E402

RUNS = {
    "01_transfer_learning": [("news_pretrain", "news", 0.9, 30_000, 60_000),
                             ("scratch", "sentiment", 0.80, 30_000, 60_000),
                             ("full_finetune", "sentiment", 0.86, 30_000, 60_000),
                             ("linear_probe", "sentiment", 0.70, 202, 60_000),
                             ("partial_unfreeze", "sentiment", 0.84, 2_000, 60_000),
                             ("tfidf_truncated", "sentiment", 0.83, 90_000, 90_000)],
    "02_hf_inference": [("sentiment_head", "sentiment", 0.69, 770, 22_713_986)],
    "03_mlm_pretraining": [("mlm_scratch", "mlm", 492.5, None, None)],
    "04_adapters": [("adapters", "sentiment", 0.85, 5_000, 65_000)],
    "05_lora": [("lora", "sentiment", 0.72, 456, 13_000), ("lora_baseline_scratch", "sentiment", 0.66, 12_800, 13_000),
                ("lora_encoder", "sentiment", 0.84, 4_000, 65_000),
                ("cnn_lora", "digits", 0.95, 300, 60_000)],
    "06_supervised_finetuning": [("ratings_finetune", "ratings", 0.5, 22_000_000, 22_000_000)],
}


def write(folder, chapter, profile="fast", source="offline", runs=None, **extra):
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"name": n, "task": t, "metric": "perplexity" if t == "mlm" else "accuracy", "value": v,
             "trainable_params": tr, "total_params": to} for n, t, v, tr, to in (runs or RUNS[chapter])]
    payload = {"chapter": chapter, "profile": profile, "source": source, "seed": 0, "device": "cpu",
               "wall_time_s": 61.0, "machine": {"cpu_count": 2}, "runs": rows, **extra}
    (folder / f"{chapter}{'' if profile == 'fast' else '.' + profile}.json").write_text(json.dumps(payload))


@pytest.fixture()
def results_dir(tmp_path):
    for chapter in summary.CHAPTERS:
        write(tmp_path, chapter)
    return tmp_path


def test_load_all_reads_every_chapter_in_order(results_dir):
    results = summary.load_all(results_dir, profile="fast", source="auto")
    assert list(results) == list(summary.CHAPTERS)
    assert "6 chapters' results, all PROFILE=fast SOURCE=offline" in summary.provenance(results)


def test_missing_chapters_are_all_named(results_dir):
    (results_dir / "04_adapters.json").unlink()
    (results_dir / "06_supervised_finetuning.json").unlink()
    with pytest.raises(FileNotFoundError, match="04_adapters, 06_supervised_finetuning") as err:
        summary.load_all(results_dir)
    assert "make chapter" in str(err.value)


def test_mixed_profiles_are_refused_and_named(results_dir):
    write(results_dir, "05_lora", profile="full", source="offline")  # 05_lora.full.json: the fast file still wins
    assert summary.load_all(results_dir)["05_lora"]["profile"] == "fast"
    # a results file renamed by hand to the fast name is caught
    (results_dir / "05_lora.full.json").replace(results_dir / "05_lora.json")
    with pytest.raises(summary.ResultsMismatchError, match=r"profile=full: 05_lora") as err:
        summary.load_all(results_dir)
    assert "profile=fast: 01_transfer_learning" in str(err.value)


def test_mixed_sources_are_refused(results_dir):
    write(results_dir, "02_hf_inference", source="hub")
    with pytest.raises(summary.ResultsMismatchError, match="source=hub: 02_hf_inference"):
        summary.load_all(results_dir)


def test_each_profile_reads_its_own_files(results_dir):
    """A full run's results sit next to the fast ones (``<chapter>.full.json``) and never replace them."""
    with pytest.raises(FileNotFoundError, match="01_transfer_learning"):
        summary.load_all(results_dir, profile="full")  # no full run yet
    for chapter in summary.CHAPTERS:
        write(results_dir, chapter, profile="full", source="hub")
    assert {r["profile"] for r in summary.load_all(results_dir, profile="full").values()} == {"full"}
    assert {r["profile"] for r in summary.load_all(results_dir, profile="fast").values()} == {"fast"}
    (results_dir / "04_adapters.json").replace(results_dir / "04_adapters.full.json")  # a fast file, misnamed
    with pytest.raises(summary.ResultsMismatchError, match="mix profiles"):
        summary.load_all(results_dir, profile="full")


def test_strategy_rows_sorted_with_reference_and_model(results_dir):
    rows = summary.strategy_rows(summary.load_all(results_dir))
    assert [r["strategy"] for r in rows] == ["full_finetune", "adapters", "partial_unfreeze", "lora_encoder",
                                             "tfidf_truncated", "scratch", "lora", "linear_probe",
                                             "lora_baseline_scratch"]
    by = {r["strategy"]: r for r in rows}
    assert by["full_finetune"]["reference"] == 0.86 and by["partial_unfreeze"]["reference"] is None
    assert by["lora"]["model"] == summary.EMBEDDING_BAG and by["adapters"]["model"] == summary.TRANSFORMER
    assert by["lora"]["value"] == 0.72  # ours, read from the file, never the reference


def test_missing_strategy_is_reported_not_invented(results_dir):
    write(results_dir, "04_adapters", runs=[("adapters_other", "sentiment", 0.8, 1, 2)])
    results = summary.load_all(results_dir)
    assert summary.missing_strategies(results) == ["adapters"]
    assert "adapters" not in [r["strategy"] for r in summary.strategy_rows(results)]


def test_all_rows_cover_every_run_with_provenance(results_dir):
    rows = summary.all_rows(summary.load_all(results_dir))
    assert len(rows) == sum(len(v) for v in RUNS.values())
    mlm = next(r for r in rows if r["run"] == "mlm_scratch")
    assert mlm["trainable"] == "-" and mlm["device"] == "cpu" and mlm["profile"] == "fast"


def test_plots_draw_bars_and_reference(results_dir):
    import matplotlib.pyplot as plt

    rows = summary.strategy_rows(summary.load_all(results_dir))
    ax = summary.plot_accuracy(rows)
    texts = [t.get_text() for t in ax.texts]
    assert "86.0%" in texts and "no\nreference" in texts
    assert any(summary.REFERENCE_LABEL == t.get_text() for t in ax.get_legend().get_texts())
    ax2 = summary.plot_trainable(rows)
    assert ax2.get_xscale() == "log"
    plt.close("all")


def test_runtime_markdown_totals(results_dir):
    write(results_dir, "01_transfer_learning", notebook_wall_time_s=70.0)
    entries = summary.runtime_entries(results_dir)
    text = summary.runtime_markdown(entries)
    assert "| 01_transfer_learning | cpu (2-core CPU) | fast / offline | 1 min 01 s | 1 min 10 s |" in text
    assert "**all 6 chapters**" in text and "**6 min 06 s**" in text
    assert summary.runtime_markdown([]).startswith("*(no chapter")


def test_intro_runtime_table_matches_the_committed_results():
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "benchmarks/runtimes.py", "--check"], cwd=root, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _store(tmp_path, rng_seed=0):
    """A claims store with two MiniLM methods and TF-IDF at 3 seeds, 400 test examples, one run unbracketed."""
    import numpy as np

    from course_lib.experiments import claims, protocol

    store = claims.RunStore(tmp_path / "runs.jsonl")
    rng = np.random.default_rng(rng_seed)
    for seed in (0, 1, 2):
        for method, p, extra in (("full_finetune", 0.85, {"learning_rate": 1e-4, "bracketed": True, "best_epoch": 3,
                                                          "max_epochs": 20, "capped": False}),
                                 ("scratch", 0.60, {"learning_rate": 1e-3, "bracketed": False,
                                                    "learning_rate_grid": [1e-4, 3e-4, 1e-3]}),
                                 ("tfidf_truncated", 0.70, {})):
            correct = rng.random(400) < p
            store.put({"kind": "pretrained", "task": "rotten_tomatoes", "budget": 100, "seed": seed,
                       "method": method},
                      {"accuracy": float(correct.mean()), "test_correct": protocol.encode_correct(correct),
                       "trainable_params": 10, **extra})
    return store


def test_run_store_resumes_and_builds_verdicts(tmp_path):
    from course_lib.experiments import claims

    store = _store(tmp_path)
    again = claims.RunStore(tmp_path / "runs.jsonl")  # a rerun reads what is stored
    assert again.runs.keys() == store.runs.keys() and len(again.runs) == 9
    found = again.get({"kind": "pretrained", "task": "rotten_tomatoes", "budget": 100, "seed": 2,
                       "method": "scratch"})
    assert found is not None and found["bracketed"] is False
    verdicts = claims.comparisons(again)
    ft_bow = claims.protocol.find(verdicts, "rotten_tomatoes", "full_finetune", "tfidf_truncated", 100)
    assert ft_bow["verdict"] == "a better" and ft_bow["seeds"] == [0, 1, 2] and ft_bow["n_test"] == 400
    assert not ft_bow.get("note")
    # scratch's learning rate sat on an edge: the interval excludes 0, but no ranking may be stated
    ft_scratch = claims.protocol.find(verdicts, "rotten_tomatoes", "full_finetune", "scratch", 100)
    assert ft_scratch["verdict"] == "a better" and "end of the grid" in ft_scratch["note"]
    assert claims.protocol.sentence(ft_scratch).startswith("full_finetune vs scratch: no ranking")
    path = claims.write_comparisons(again, tmp_path)
    payload = json.loads(path.read_text())
    assert {"task", "budget", "a", "b", "mean_difference", "ci95", "verdict", "n_test", "seeds"} <= set(
        payload["comparisons"][0])
    assert all("test_correct" not in r for r in payload["runs"])


def test_run_store_rewrite_keeps_one_line_a_run_judged_by_todays_rule(tmp_path):
    from course_lib.experiments import claims

    store = _store(tmp_path)
    first = next(iter(store.runs.values()))
    stale = {**first, "learning_rate_grid": [1e-5, 1e-4, 1e-3], "learning_rate_scores": [0.5, 0.8, 0.7],
             "bracketed": False}  # stored under an older rule
    with store.path.open("a") as f:
        f.write(json.dumps(stale) + "\n")  # the same key a second time
    assert len(store.path.read_text().splitlines()) == 10
    again = claims.RunStore(store.path)
    assert again.runs[first["key"]]["bracketed"] is True
    again.rewrite()
    lines = [json.loads(line) for line in store.path.read_text().splitlines()]
    assert len(lines) == 9 and len({r["key"] for r in lines}) == 9
    assert next(r for r in lines if r["key"] == first["key"])["bracketed"] is True


def test_verdicts_reach_a_chapter_only_for_its_own_scale(tmp_path):
    from course_lib.experiments import claims

    payload = json.loads(claims.write_comparisons(_store(tmp_path), tmp_path).read_text())
    c, sentence = claims.verdict_for(payload, "rotten_tomatoes", "full_finetune", "tfidf_truncated", budget=100,
                                     labels={"full_finetune": "fine-tuning"})
    assert c is not None and sentence.startswith("fine-tuning beats tfidf_truncated")
    c, sentence = claims.verdict_for(payload, "rotten_tomatoes", "full_finetune", "tfidf_truncated", budget=100,
                                     profile="full", source="hub")
    assert c is None and "not measured at this scale" in sentence
    assert claims.verdict_for(payload, "imdb", "full_finetune", "scratch", budget=100)[0] is None
    assert "not measured yet" in claims.verdict_for(None, "imdb", "a", "b")[1]


def test_summary_rows_plots_and_source_claims(tmp_path):
    from course_lib.experiments import claims

    payload = json.loads(claims.write_comparisons(_store(tmp_path), tmp_path).read_text())
    rows = summary.method_rows(payload, "pretrained", "rotten_tomatoes", 100)
    assert [r["method"] for r in rows] == ["full_finetune", "tfidf_truncated", "scratch"]
    assert len(rows[0]["seeds"]) == 3 and rows[0]["min"] <= rows[0]["mean"] <= rows[0]["max"]
    table = summary.protocol_table(rows)
    assert table[2]["bracketed"] == "NO (0/3 seeds; best at an end of the grid)"
    assert table[0]["best epoch / cap"] == "3 / 20"
    assert table[0]["bracketed"] == "yes (3/3 seeds)" and table[1]["bracketed"] == "-"
    assert table[0]["learning rate per seed"] == "0.0001, 0.0001, 0.0001" and table[1]["learning rate per seed"] == "-"
    assert summary.budgets_for(payload, "pretrained", "rotten_tomatoes") == [100]
    curves = summary.efficiency_curves(payload, "rotten_tomatoes")
    assert set(curves) == {"full_finetune", "scratch", "tfidf_truncated"} and curves["scratch"][0]["budget"] == 100
    assert summary.plot_ladder(rows) is not None
    assert summary.plot_label_efficiency(payload, "rotten_tomatoes") is not None
    assert summary.plot_gains(payload, "rotten_tomatoes") is not None
    claim_rows = summary.source_claims_table(payload)
    ft_scratch = next(r for r in claim_rows if r["source claim"].startswith("full fine-tuning beats"))
    assert ft_scratch["MiniLM, rotten_tomatoes, 100 labels"].startswith("no ranking")
    assert summary.source_claims_table(None)[0]["this profile"].startswith("not measured")


def _payload(runs, comparisons=(), seeds=(0, 1, 2)):
    """A comparisons.json payload from ``(kind, task, budget, method, seed, extra)`` runs."""
    return {"profile": "fast", "source": "offline", "seeds": list(seeds), "comparisons": list(comparisons),
            "runs": [{"kind": k, "task": t, "budget": b, "method": m, "seed": s, "accuracy": 0.7, **extra}
                     for k, t, b, m, s, extra in runs]}


def test_protocol_table_shows_every_seed_and_brackets_only_at_all_seeds():
    lrs, flags = (1e-3, 3e-4, 1e-3), (True, False, True)
    payload = _payload([("baselines", "rt", 100, "linear_probe", s, {"learning_rate": lr, "bracketed": f})
                        for s, lr, f in zip((2, 0, 1), (lrs[2], lrs[0], lrs[1]), (flags[2], flags[0], flags[1]))])
    row, = summary.method_rows(payload, "pretrained", "rt", 100)
    assert row["seeds"] == [0, 1, 2] and row["learning_rates"] == list(lrs)
    assert row["bracketed"] is False and row["bracketed_seeds"] == 2  # seed 1 was not bracketed
    line, = summary.protocol_table([row])
    assert line["learning rate per seed"] == "0.001, 0.0003, 0.001"
    assert line["bracketed"] == "NO (2/3 seeds; best at an end of the grid)"
    # a learning rate searched once (seed 0) and reused: its one flag is not counted as three searches
    reused = {"learning_rate": 3e-5, "bracketed": True}
    payload = _payload(
        [("pretrained", "rt", 100, "full_finetune", s, {**reused, "tuned_here": s == 0}) for s in (0, 1, 2)]
        + [("pretrained", "rt", 500, "full_finetune", s,
            {**reused, "tuned_here": False, "tuned_at": {"budget": 100, "seed": 0}}) for s in (0, 1, 2)])
    line, = summary.protocol_table(summary.method_rows(payload, "pretrained", "rt", 100))
    assert line["bracketed"] == "yes (one search at seed 0, reused)"
    line, = summary.protocol_table(summary.method_rows(payload, "pretrained", "rt", 500))
    assert line["bracketed"] == "yes (one search at 100 labels, seed 0, reused)"
    assert line["learning rate per seed"] == "3e-05, 3e-05, 3e-05"


def test_largest_shared_budget_holds_every_method_at_every_seed():
    runs = [("baselines", "rt", b, m, s, {}) for b in (100, 500, 2000) for m in ("tfidf_truncated", "linear_probe")
            for s in (0, 1, 2)]
    runs += [("pretrained", "rt", b, "full_finetune", s, {}) for b in (100, 500) for s in (0, 1, 2)]
    runs += [("pretrained", "rt", b, "lora", s, {}) for b, s in ((100, 0), (100, 1), (100, 2), (500, 0))]
    payload = _payload(runs)
    assert summary.budgets_for(payload, "pretrained", "rt") == [100, 500, 2000]
    shared = summary.largest_shared_budget
    assert shared(payload, "pretrained", "rt", ("linear_probe", "tfidf_truncated")) == 2000
    assert shared(payload, "pretrained", "rt", ("full_finetune", "tfidf_truncated")) == 500
    assert shared(payload, "pretrained", "rt", ("lora", "full_finetune")) == 100  # lora at 500: one seed only
    assert shared(payload, "pretrained", "rt", ("adapters", "full_finetune")) is None
    assert shared(payload, "pretrained", "imdb", ("full_finetune",)) is None
    assert shared(None, "pretrained", "rt", ("full_finetune",)) is None


def test_runs_at_chance_names_the_seeds_that_did_not_learn():
    payload = _payload([("pretrained", "imdb", 500, "adapters", 0, {"accuracy": 0.499}),
                        ("pretrained", "imdb", 500, "adapters", 2, {"accuracy": 0.78}),
                        ("pretrained", "imdb", 500, "adapters", 1, {"accuracy": 0.515}),
                        ("pretrained", "imdb", 500, "lora", 0, {"accuracy": 0.5})])
    stuck = summary.runs_at_chance(payload, "pretrained", "imdb", 500, "adapters")
    assert [(r["seed"], r["accuracy"]) for r in stuck] == [(0, 0.499), (1, 0.515)]
    assert summary.runs_at_chance(payload, "pretrained", "imdb", 500, "adapters", within=0.01)[0]["seed"] == 0
    assert summary.runs_at_chance(payload, "pretrained", "imdb", 100, "adapters") == []
    assert summary.runs_at_chance(None, "pretrained", "imdb", 500, "adapters") == []


def test_efficiency_curves_skip_budgets_not_measured_at_every_seed():
    runs = [("pretrained", "rt", 100, "full_finetune", s, {}) for s in (0, 1, 2)]
    runs += [("pretrained", "rt", 2000, "full_finetune", s, {}) for s in (0, 1)]  # a make claims stopped part-way
    curves = summary.efficiency_curves(_payload(runs), "rt")
    assert [p["budget"] for p in curves["full_finetune"]] == [100]


def _verdict(a, b, budget, verdict, note="", task="rt"):
    lo, hi = {"a better": (0.01, 0.05), "b better": (-0.05, -0.01), "indistinguishable": (-0.02, 0.02)}[verdict]
    return {"experiment": "MiniLM and baselines", "task": task, "budget": budget, "a": a, "b": b, "verdict": verdict,
            "mean_difference": (lo + hi) / 2, "ci95": [lo, hi], "note": note, "seeds": [0, 1, 2], "n_test": 100,
            "mean_a": 0.7, "mean_b": 0.7}


def test_wins_count_only_rankable_pretrained_strategies():
    runs = [("baselines", "rt", b, m, s, {}) for b in (100, 500, 2000) for m in ("tfidf_truncated", "tfidf_whole")
            for s in (0, 1, 2)]
    runs += [("baselines", "rt", b, "linear_probe", s, {"bracketed": not (b == 100 and s == 1)})
             for b in (100, 500, 2000) for s in (0, 1, 2)]
    runs += [("pretrained", "rt", b, m, s, {"bracketed": m != "adapters"}) for b in (100, 500)
             for m in ("full_finetune", "scratch", "adapters") for s in (0, 1, 2)]
    comparisons = [
        _verdict("tfidf_whole", "tfidf_truncated", 100, "a better"),  # a baseline: never a pretrained win
        _verdict("scratch", "tfidf_truncated", 500, "a better"),  # no pretraining: never a pretrained win
        # the interval excludes 0 but the probe is unbracketed at seed 1 (an old file: no note recorded)
        _verdict("linear_probe", "tfidf_truncated", 100, "a better"),
        _verdict("full_finetune", "tfidf_truncated", 100, "indistinguishable"),
        _verdict("full_finetune", "tfidf_truncated", 500, "a better"),
        _verdict("linear_probe", "tfidf_truncated", 500, "b better"),
        _verdict("adapters", "tfidf_truncated", 500, "a better", note="adapters: edge"),
        _verdict("linear_probe", "tfidf_truncated", 2000, "a better")]
    payload = _payload(runs, comparisons)
    assert summary.pretrained_wins(payload, "rt") == [(500, "full_finetune"), (2000, "linear_probe")]
    gains = summary.gains_over_baseline(payload, "rt")
    assert gains[100] == {"linear_probe": "no ranking", "full_finetune": "indistinguishable"}
    assert gains[500] == {"full_finetune": "a better", "linear_probe": "b better", "adapters": "no ranking"}
    sentence = summary.wins_sentence(payload, "rt", "RT")
    ft, probe, bow = (summary.method_label("pretrained", m) for m in ("full_finetune", "linear_probe",
                                                                      "tfidf_truncated"))
    assert sentence == (f"On RT, a pretrained strategy beat {bow} at 500 and 2,000 labels ({ft} at 500 labels; "
                        f"{probe} at 2,000 labels), and none did at 100 labels ({ft}: indistinguishable; "
                        f"{probe}: no ranking): an advantage of the pretrained encoder was established with more "
                        "labels, not with the fewest.")
    # nothing rankable anywhere
    none = _payload(runs, [_verdict("linear_probe", "tfidf_truncated", 100, "a better")])
    assert summary.pretrained_wins(none, "rt") == []
    assert summary.wins_sentence(none, "rt", "RT").startswith("On RT, no pretrained strategy beat")


def test_a_claim_is_reproduced_only_by_a_rankable_comparison(tmp_path):
    """adapters vs full fine-tuning "indistinguishable" would reproduce "adapters come close", but not from an
    unbracketed adapters run: the table says no ranking, from the note or, in an old file without one, the runs."""
    runs = [("pretrained", "rt", 100, m, s, {"bracketed": m != "adapters", "learning_rate_grid": [1e-4, 3e-4]})
            for m in ("full_finetune", "adapters") for s in (0, 1, 2)]
    close = next(c for c in summary.SOURCE_CLAIMS if c["a"] == "adapters")
    for note in ("", "adapters: its learning-rate search found no bracketed optimum"):
        payload = _payload(runs, [_verdict("adapters", "full_finetune", 100, "indistinguishable", note=note)])
        row = next(r for r in summary.source_claims_table(payload) if r["source claim"] == close["claim"])
        assert row["MiniLM, rt, 100 labels"].startswith("no ranking (adapters: its learning-rate search")
    bracketed = [r[:5] + ({"bracketed": True},) for r in runs]
    payload = _payload(bracketed, [_verdict("adapters", "full_finetune", 100, "indistinguishable")])
    row = next(r for r in summary.source_claims_table(payload) if r["source claim"] == close["claim"])
    assert row["MiniLM, rt, 100 labels"].startswith("reproduced")
