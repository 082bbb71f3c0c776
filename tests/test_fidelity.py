"""The source-fidelity tables: one per chapter, our values read from the full profile's configs."""

from dataclasses import replace

import pytest

from course_lib import fidelity
from course_lib.chapters import ch04_adapters, ch05_lora, ch06_finetune, ch06_sft
from course_lib.config import Profile
from course_lib.experiments import encoder_transfer as ch01_transfer
from course_lib.experiments import mlm as ch03_mlm
from course_lib.nbtools import table

COLUMNS = ["setting", "ours (fast)", "ours (full)", "source", "note"]


@pytest.mark.parametrize("chapter", fidelity.CHAPTERS)
def test_every_chapter_has_a_table_with_sources(chapter):
    rows = fidelity.settings_table(chapter)
    assert rows and all(list(r) == COLUMNS for r in rows)
    assert all(r["source"].strip() for r in rows), "a row without the source's value"
    assert all(r["ours (full)"].strip() for r in rows)
    assert {r["setting"] for r in rows} == set(fidelity.SOURCE_SETTINGS[chapter])  # nothing unmatched
    assert table(rows).count("\n") == len(rows) + 1


@pytest.mark.parametrize("chapter", fidelity.CHAPTERS)
def test_ours_equals_the_field_each_row_reads(chapter):
    roots = fidelity._roots(chapter)
    ours = fidelity.ours(chapter)
    for row in fidelity.ROWS[chapter]:
        if isinstance(row.read, str):
            assert ours[row.setting] == fidelity._fmt(fidelity.read_path(roots, row.read)), row.setting


def test_paths_read_the_full_profile():
    full = Profile("full")
    ours = fidelity.ours("01_transfer_learning")
    assert ours["batch size"] == f"{ch01_transfer.config_for(full).batch_size:,}"
    assert ours["precision"] == ch01_transfer.config_for(full).mixed_precision
    assert fidelity.ours("06_supervised_finetuning")["SFT model"] == ch06_sft.config_for(full).hub_id
    block = ch03_mlm.config_for(full).block_size
    assert fidelity.ours("03_mlm_pretraining")["sequence length (tokens)"] == f"{block:,}"


@pytest.mark.parametrize("module, chapter, change, setting, shown", [
    (ch01_transfer, "01_transfer_learning", {"batch_size": 999}, "batch size", "999"),
    (ch04_adapters, "04_adapters", {"adapter_bottleneck": 24}, "adapter bottleneck", "24"),
    (ch03_mlm, "03_mlm_pretraining", {"learning_rate": 5e-5}, "learning rate", "5e-5"),
    (ch05_lora, "05_lora", {"lora_alpha": 0.2}, "scale on the update", "0.1"),
    (ch06_finetune, "06_supervised_finetuning", {"epochs": 7}, "classifier epochs", "7"),
    (ch06_sft, "06_supervised_finetuning", {"use_lora": True}, "SFT fine-tuning", "LoRA r=16"),
])
def test_table_follows_the_config(monkeypatch, module, chapter, change, setting, shown):
    original = module.config_for
    monkeypatch.setattr(module, "config_for", lambda profile: replace(original(profile), **change))
    row = next(r for r in fidelity.settings_table(chapter) if r["setting"] == setting)
    assert row["ours (full)"].startswith(shown)


def test_defects_are_named():
    ch1 = {r["setting"]: r for r in fidelity.settings_table("01_transfer_learning")}
    assert ch1["encoder batch_first"]["ours (full)"] == "True"
    assert ch1["encoder batch_first"]["note"].startswith("defect")
    assert ch1["optimiser"]["note"].startswith("defect")
    lora = {r["setting"]: r for r in fidelity.settings_table("05_lora")}
    assert "lora_alpha=0.1 * r" in lora["lora_alpha (convention)"]["note"]


def test_unknown_chapter():
    with pytest.raises(KeyError, match="known"):
        fidelity.settings_table("99_nothing")


def test_settings_frame_is_the_table_indexed_by_setting():
    rows = fidelity.settings_table("05_lora")
    frame = fidelity.settings_frame("05_lora")
    assert list(frame.index) == [r["setting"] for r in rows]
    assert list(frame.columns) == ["ours (fast)", "ours (full)", "source", "note"]
    html, text = frame._repr_html_(), repr(frame)
    for row in rows:  # every cell whole, in the HTML of the book and in the text repr
        assert row["source"].replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in html
        assert row["source"] in text


@pytest.mark.parametrize("chapter", sorted(fidelity.SOURCE_SETTINGS))
def test_the_book_shows_no_line_numbers_of_a_file_readers_do_not_have(chapter):
    import re

    for row in fidelity.settings_table(chapter):
        assert not re.search(r"\bL\d", row["source"] + " " + row["note"]), row
    assert fidelity._without_line_refs("6,000 (5% of 120,000, L564-566); full (L636)") == "6,000 (5% of 120,000); full"


def test_fast_column_reads_the_fast_profile():
    from course_lib.config import Profile

    row = {r["setting"]: r for r in fidelity.settings_table("03_mlm_pretraining")}["sequence length (tokens)"]
    assert row["ours (fast)"] == f"{ch03_mlm.config_for(Profile('fast')).block_size:,}"
    assert row["ours (full)"] == f"{ch03_mlm.config_for(Profile('full')).block_size:,}"


@pytest.mark.parametrize("chapter, setting", [
    ("01_transfer_learning", "word-vector rows"), ("01_transfer_learning", "partial unfreezing"),
    ("03_mlm_pretraining", "fill-mask vocabulary"), ("04_adapters", "word-vector rows"),
    ("05_lora", "word vectors of the news model"), ("06_supervised_finetuning", "SFT evaluation prompts"),
])
def test_source_defects_added_in_issue_19_are_named(chapter, setting):
    row = {r["setting"]: r for r in fidelity.settings_table(chapter)}[setting]
    assert row["note"].startswith("defect")


def test_source_reported_numbers_say_where_they_were_printed():
    assert fidelity.SOURCE_REPORTED["0.265"].startswith("ch. 6")
    assert all(text.strip() for text in fidelity.SOURCE_REPORTED.values())
    assert fidelity.SOURCE_NOTEBOOKS["02_hf_inference"].startswith("The Hugging Face NLP Cookbook")
