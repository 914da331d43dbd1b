"""The embedded mode's card-hash key: one random key per data dir, kept in a file.

The lake stores card numbers only as an HMAC (docs/security.md). Outside the embedded mode the
key comes from LAKEHOUSE_CARD_HASH_KEY (`lakehouse.config.Settings`); the embedded mode must work
out of the box without a public key, so on first use it creates a random key in a file of the
data dir, readable by its owner only, and every later process of that data dir reads it back.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

CARD_HASH_KEY_FILE = "card_hash.key"


def embedded_card_hash_key(data_dir: Path) -> str:
    """The embedded mode's card-hash key: `data_dir/card_hash.key`, created once at random.

    The file is created with mode 0600 and published atomically (a link that fails if the
    file exists), so two processes starting together end up with the same key.

    Args:
        data_dir: `LAKEHOUSE_DATA_DIR`.

    Returns:
        The key (64 hex digits).
    """
    path = data_dir / CARD_HASH_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        # mkstemp: a unique draft, created with mode 0600 before any byte is written.
        descriptor, name = tempfile.mkstemp(dir=data_dir, prefix=f".{CARD_HASH_KEY_FILE}.")
        draft = Path(name)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process won the race: its key is the key
        finally:
            draft.unlink()
    return path.read_text().strip()
