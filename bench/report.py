"""The benchmark table: each figure with its baseline, ratio and target."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    figure: str
    value: float
    unit: str
    baseline: float | None = None  # same run, same machine
    target: str = ""
    passed: bool | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline


def at_least(figure: str, value: float, unit: str, baseline: float, minimum_ratio: float) -> Row:
    return Row(
        figure, value, unit, baseline, f"≥ {minimum_ratio:g}×", value / baseline >= minimum_ratio
    )


def at_most(
    figure: str, value: float, unit: str, limit: float, baseline: float | None = None
) -> Row:
    return Row(figure, value, unit, baseline, f"≤ {limit:g} {unit}", value <= limit)


def ratio_at_most(figure: str, value: float, unit: str, baseline: float, limit: float) -> Row:
    return Row(figure, value, unit, baseline, f"≤ {limit:g}× baseline", value / baseline <= limit)


def render(rows: list[Row]) -> str:
    header = ("figure", "value", "baseline", "ratio", "target", "result")
    lines = [header]
    for row in rows:
        lines.append(
            (
                row.figure,
                f"{row.value:,.1f} {row.unit}",
                "" if row.baseline is None else f"{row.baseline:,.1f}",
                "" if row.ratio is None else f"{row.ratio:.2f}×",
                row.target,
                {True: "PASS", False: "FAIL", None: ""}[row.passed],
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        " | ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        for line in lines
    ]
    text.insert(1, "-+-".join("-" * width for width in widths))
    return "\n".join(text)
