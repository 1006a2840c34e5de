"""Evaluation: tasks and graders, calibration at matched LLM share, the resumable run, the report."""

from __future__ import annotations

from .report import render_report
from .runner import METHODS, EvalConfig, Evaluation
from .summary import summarize

__all__ = ["METHODS", "EvalConfig", "Evaluation", "render_report", "summarize"]
