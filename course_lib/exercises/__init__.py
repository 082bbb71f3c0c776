"""Checkers for each chapter's exercises (``chNN.py``); see :mod:`course_lib.grading` for the conventions."""
