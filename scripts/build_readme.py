"""Assemble README.md from docs/readme/*.md: the head, each area's section in order, the tail.

Each part of the platform documents itself in `docs/readme/<area>.md`; this keeps the README one
file for readers while each section stays next to the team that measures its figures.
Run `python scripts/build_readme.py` after editing a section.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = [
    "_head",
    "datagen",
    "sources",
    "pipeline",
    "models",
    "ml",
    "api",
    "api_ml",
    "ui",
    "spark",
    "containers",
    "monitoring",
    "cloud",
    "_tail",
]


def build() -> str:
    parts = [(ROOT / "docs" / "readme" / f"{name}.md").read_text().strip() for name in SECTIONS]
    return "\n\n".join(parts) + "\n"


if __name__ == "__main__":
    (ROOT / "README.md").write_text(build())
