"""Helpers for ``transformers.Trainer`` (chapter 3's MLM pretraining, chapter 6's ``trl.SFTTrainer``)."""

from __future__ import annotations

from course_lib.env import show_progress


def quiet_trainer(trainer):
    """Keep a trainer's output to what a notebook should show: no raw log dicts (``PrinterCallback``), and no
    progress bars (``ProgressCallback``) when :func:`course_lib.env.show_progress` is off. Returns ``trainer``."""
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)
    if not show_progress():
        trainer.remove_callback(ProgressCallback)
    return trainer
