"""Reports of whole runs: one self-contained HTML page per run (`render_run_report`)."""

from sim.report.run_report import render_run_report, write_run_report

__all__ = ["render_run_report", "write_run_report"]
