"""The table: printed as aligned text, and as Markdown for RESULTS.md."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

HEADERS = ("scenario", "variant", "measured", "baseline (same run)", "ratio", "target", "met")


def _cells(row: Any) -> list[str]:
    met = {True: "yes", False: "NO", None: "-"}[row.met]
    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
    return [row.scenario, row.variant, row.measured, row.baseline, ratio, row.target, met]


def render_table(rows: Sequence[Any]) -> str:
    table = [list(HEADERS), *(_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip() for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows: Sequence[Any], meta: dict[str, Any]) -> str:
    machine = meta["machine"]

    def load(values: object) -> str:
        return " ".join(f"{v:.2f}" for v in values) if isinstance(values, list | tuple) else str(values)

    out = [
        f"Run: {meta['date']}; `{meta['command']}`; {machine['cores']} cores, {machine['memory_gb']} GB "
        f"({machine['cpu']}); Python {machine['python']}; load average before {load(machine['load_average'])}, "
        f"after {load(meta.get('load_average_after'))}; {meta.get('seconds')} s; generator {meta['generator']}.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "---|" * len(HEADERS),
    ]
    out += ["| " + " | ".join(_cells(r)) + " |" for r in rows]
    return "\n".join(out) + "\n"
