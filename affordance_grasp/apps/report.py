"""Shared reporting bits for the apps: machine name and markdown rate tables."""
from __future__ import annotations

import os
import platform


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores"


def rate_table(rows: dict, columns, total: dict | None = None) -> str:
    """Markdown table: one row per key of ``rows`` (each a dict with ``n`` and the columns)."""
    head = "| category | n | " + " | ".join(columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 2)]
    for name, r in list(rows.items()) + ([("**all**", total)] if total else []):
        lines.append(f"| {name} | {r['n']} | " + " | ".join(f"{r[c]:.2f}" for c in columns) + " |")
    return "\n".join(lines)
