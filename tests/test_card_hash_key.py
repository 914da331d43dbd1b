"""The embedded mode's card-hash key: random per data dir, created once, owner-only (issue 14).

It replaced a public demo key with which anyone could rebuild a card number from
`card_number_hash`, `card_last4` and the BIN.
"""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lakehouse.card_hash_key import CARD_HASH_KEY_FILE
from lakehouse.config import Settings


def test_a_random_key_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path / "a").effective_card_hash_key
    assert len(first) == 64 and int(first, 16) >= 0
    key_file = tmp_path / "a" / CARD_HASH_KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert Settings(data_dir=tmp_path / "a").effective_card_hash_key == first
    assert Settings(data_dir=tmp_path / "b").effective_card_hash_key != first
    assert "lakehouse-embedded-demo-key" not in first


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        keys = set(
            pool.map(lambda _: Settings(data_dir=tmp_path).effective_card_hash_key, range(16))
        )
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == [CARD_HASH_KEY_FILE]


def test_a_configured_key_wins_and_no_file_is_written(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, card_hash_key="configured-key")
    assert settings.effective_card_hash_key == "configured-key"
    assert not (tmp_path / CARD_HASH_KEY_FILE).exists()
