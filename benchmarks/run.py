"""Run every benchmark module (`benchmarks/bench_*.py`) in order and summarise.

Each module exposes `run(scale: str, workdir: Path) -> list[dict]`: it times its work,
prints its own table, and returns rows `{"benchmark", "figure", "value", "unit"}` that this
runner gathers into one summary (and writes to `benchmarks/results/latest.json`).
`--scale small` is a quick smoke run; `medium` is one million transactions; `full` is the
whole 13.3 M-row dataset (minutes). `--only NAME` runs a subset.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()
HERE = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(
        info.name for info in pkgutil.iter_modules([str(HERE)]) if info.name.startswith("bench_")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", choices=["small", "medium", "full"], default="medium")
    parser.add_argument(
        "--only", action="append", default=[], help="bench module suffix, e.g. datagen"
    )
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    names = [n for n in discover() if not args.only or n.removeprefix("bench_") in args.only]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="lakehouse-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        for name in names:
            console.rule(f"[bold]{name}[/] ({args.scale})")
            start = time.perf_counter()
            module = importlib.import_module(f"benchmarks.{name}")
            module_dir = workdir / name
            module_dir.mkdir(parents=True, exist_ok=True)
            rows.extend(module.run(args.scale, module_dir))
            console.print(f"{name}: {time.perf_counter() - start:.1f} s")

    table = Table(title=f"Benchmark summary (scale={args.scale})")
    for column in ("benchmark", "figure", "value", "unit"):
        table.add_column(column)
    for row in rows:
        value = row["value"]
        table.add_row(
            row["benchmark"],
            row["figure"],
            f"{value:,.3f}" if isinstance(value, float) else str(value),
            row.get("unit", ""),
        )
    console.print(table)
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "latest.json").write_text(json.dumps({"scale": args.scale, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
