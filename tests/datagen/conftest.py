"""Fixtures of the generator tests: generated folders and their transactions as frames.

`fraud_rich_dir` is one year for 300 clients with the fraud rate raised six-fold
(`fraud_multiplier=6`, about 1,200 labeled frauds), so the orderings and clusters of DATA.md
can be measured at a small scale; `default_rate_dir` keeps the default fraud rate for the
0.15 % check. Both are made once per session and read-only.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from datagen_frames import load_transactions

from lakehouse.datagen import generate


@pytest.fixture(scope="session")
def fraud_rich_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fraud_rich")
    generate(out, clients=300, transactions=200_000, seed=3, start="2018-01-01",
             end="2018-12-31", fraud_multiplier=6)
    return out


@pytest.fixture(scope="session")
def fraud_rich(fraud_rich_dir: Path) -> pd.DataFrame:
    """All rows of `fraud_rich_dir` (labels NaN where unlabeled)."""
    return load_transactions(fraud_rich_dir)


@pytest.fixture(scope="session")
def default_rate_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("default_rate")
    generate(out, clients=400, transactions=300_000, seed=11, start="2017-01-01",
             end="2018-12-31")
    return out


@pytest.fixture(scope="session")
def default_rate(default_rate_dir: Path) -> pd.DataFrame:
    """All rows of `default_rate_dir` (labels NaN where unlabeled)."""
    return load_transactions(default_rate_dir)
