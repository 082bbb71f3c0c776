"""course_lib.chapters.ch07_summary on tiny results files written here: loading, the two errors, rows, plots, runtime table."""

import json

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from course_lib.chapters import ch07_summary as summary  # noqa: E402

RUNS = {
    "01_transfer_learning": [("news_pretrain", "news", 0.9, 30_000, 60_000), ("scratch", "sentiment", 0.80, 30_000, 60_000),
                             ("full_finetune", "sentiment", 0.86, 30_000, 60_000),
                             ("linear_probe", "sentiment", 0.70, 202, 60_000),
                             ("partial_unfreeze", "sentiment", 0.84, 2_000, 60_000),
                             ("tfidf_logreg", "sentiment", 0.83, 90_000, 90_000)],
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
    (folder / f"{chapter}.json").write_text(json.dumps(payload))


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
    write(results_dir, "05_lora", profile="full", source="offline")
    with pytest.raises(summary.ResultsMismatchError, match=r"profile=full: 05_lora") as err:
        summary.load_all(results_dir)
    assert "profile=fast: 01_transfer_learning" in str(err.value)


def test_mixed_sources_are_refused(results_dir):
    write(results_dir, "02_hf_inference", source="hub")
    with pytest.raises(summary.ResultsMismatchError, match="source=hub: 02_hf_inference"):
        summary.load_all(results_dir)


def test_profile_other_than_asked_is_refused(results_dir):
    with pytest.raises(summary.ResultsMismatchError, match="PROFILE='full' was asked for"):
        summary.load_all(results_dir, profile="full")


def test_strategy_rows_sorted_with_reference_and_model(results_dir):
    rows = summary.strategy_rows(summary.load_all(results_dir))
    assert [r["strategy"] for r in rows] == ["full_finetune", "adapters", "partial_unfreeze", "lora_encoder",
                                             "tfidf_logreg", "scratch", "lora", "linear_probe",
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


SEEDS = {"seeds": [0, 1, 2], "runs": {
    "01_transfer_learning/full_finetune/sentiment": {"values": [0.70, 0.72, 0.69], "trainable_params": 10,
                                                     "mean": 0.7033, "min": 0.69, "max": 0.72},
    "01_transfer_learning/scratch/sentiment": {"values": [0.65, 0.73, 0.60], "trainable_params": 10,
                                               "mean": 0.66, "min": 0.60, "max": 0.73},
    "01_transfer_learning/linear_probe/sentiment": {"values": [0.60, 0.61, 0.62], "trainable_params": 2,
                                                    "mean": 0.61, "min": 0.60, "max": 0.62}}}


def test_a_ranking_is_stated_only_where_it_holds_at_every_seed():
    held = summary.compare_across_seeds(SEEDS, ("01_transfer_learning", "full_finetune"),
                                        ("01_transfer_learning", "linear_probe"), ("ft", "probe"))
    assert held["holds"] and held["wins"] == 3 and held["sentence"].startswith("ft beat probe at all 3 seeds")
    noisy = summary.compare_across_seeds(SEEDS, ("01_transfer_learning", "full_finetune"),
                                         ("01_transfer_learning", "scratch"), ("ft", "scratch"))
    assert noisy["holds"] is False and noisy["wins"] == 2
    assert "within seed noise: ahead at 2 of 3 seeds" in noisy["sentence"]
    reverse = summary.compare_across_seeds(SEEDS, ("01_transfer_learning", "linear_probe"),
                                           ("01_transfer_learning", "full_finetune"), ("probe", "ft"))
    assert reverse["wins"] == 0 and reverse["sentence"].startswith("ft beat probe at all 3 seeds")
    assert "(mean 0.703 vs 0.610" in reverse["sentence"]  # the winner's mean first, as in the other order
    assert summary.compare_across_seeds(None, ("a", "b"), ("c", "d"), ("x", "y"))["holds"] is None
    with pytest.raises(KeyError, match="make claims"):
        summary.seed_values(SEEDS, "04_adapters", "adapters")


def test_ladder_and_label_efficiency_read_the_claims_files():
    efficiency = {"seeds": [0, 1], "budgets": [100, 500], "points": [
        {"method": "pretrained_finetune", "train_examples": 500, "seed": 0, "accuracy": 0.80, "trainable_params": 5},
        {"method": "pretrained_finetune", "train_examples": 500, "seed": 1, "accuracy": 0.84, "trainable_params": 5},
        {"method": "tfidf_logreg", "train_examples": 100, "seed": 0, "accuracy": 0.6},
        {"method": "tfidf_logreg", "train_examples": 100, "seed": 1, "accuracy": 0.7}]}
    rows = summary.ladder_rows(SEEDS, efficiency)
    assert [r["strategy"] for r in rows] == ["pretrained_finetune", "full_finetune", "scratch", "linear_probe"]
    assert rows[0]["mean"] == pytest.approx(0.82) and rows[0]["min"] == 0.80 and rows[0]["n"] == 2
    curves = summary.efficiency_curves(efficiency)
    assert curves["tfidf_logreg"] == [{"n": 100, "mean": pytest.approx(0.65), "min": 0.6, "max": 0.7, "seeds": 2}]
    assert summary.plot_ladder(rows) is not None and summary.plot_label_efficiency(efficiency) is not None
    with pytest.raises(KeyError, match="no 'scratch' at 500 labels"):
        summary.label_efficiency_point(efficiency, "scratch", 500)
    point, why = summary.comparable_point(efficiency, "pretrained_finetune", 500, "offline")
    assert point["mean"] == pytest.approx(0.82) and why == ""
    for n, source, reason in [(500, "hub", "offline data"), (21758, "offline", "measured only at [500]"),
                              (500, "offline", "not measured yet")]:
        point, why = summary.comparable_point(None if reason.startswith("not") else efficiency,
                                              "pretrained_finetune", n, source)
        assert point is None and reason in why


def test_claims_files_come_from_the_results_folder_else_the_committed_ones(results_dir, tmp_path, monkeypatch):
    """A folder of your own runs (``make chapter`` writes results/) has no claims files: the summary of those runs reads
    the committed ones instead of failing on None (the hub rehearsal's chapter 7 did)."""
    committed = tmp_path / "committed"
    committed.mkdir()
    (committed / summary.SEEDS_FILE).write_text(json.dumps({"runs": {"from": "committed"}}))
    monkeypatch.setattr(summary, "COMMITTED_RESULTS_DIR", committed)
    assert summary.read_committed(summary.SEEDS_FILE, results_dir) == {"runs": {"from": "committed"}}
    (results_dir / summary.SEEDS_FILE).write_text(json.dumps({"runs": {"from": "yours"}}))
    assert summary.read_committed(summary.SEEDS_FILE, results_dir) == {"runs": {"from": "yours"}}
    assert summary.read_committed(summary.LABEL_EFFICIENCY_FILE, results_dir) is None  # in neither folder
