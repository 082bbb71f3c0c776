"""Experiments shared by several chapters, and the protocol every comparison follows.

A layer between ``train`` (mechanics) and ``chapters`` (one module per chapter, leaves that import no other
chapter): :mod:`~course_lib.experiments.protocol` (learning-rate bracketing, label budgets, the one verdict
function), :mod:`~course_lib.experiments.encoder_transfer` (the source's experiment: the small encoder pretrained on
news, adapted to sentiment; chapters 1, 4 and 5), :mod:`~course_lib.experiments.pretrained` (the same strategies on
a real pretrained encoder, all-MiniLM-L6-v2) and :mod:`~course_lib.experiments.claims` (what ``make claims`` runs
and the committed files the chapters read).
"""
