"""The generator's ground truth: which fraud mechanism produced each fraudulent transaction.

The five source files say only *whether* a transaction was fraud. Evaluating a model per
mechanism (card bursts, account takeovers, breached merchants) needs to know *which*, and only
the generator knows it. So `lakehouse generate` writes one more file beside the five, named
`MECHANISMS_FILE` (not a source file: sources_api never serves it, the pipeline never reads it):
one CSV line `transaction_id,mechanism` per fraudulent row, labeled or not. Training reads it
with `read_mechanisms` when it is there and reports metrics per mechanism; on the real dataset
the file does not exist and that report is skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

MECHANISMS_FILE = "generator_fraud_mechanisms.csv"

LEGITIMATE = 0
CARD_BURST = 1
ACCOUNT_TAKEOVER = 2
BREACHED_MERCHANT = 3
# Code -> name, as written in the file and reported in MLflow and the UI.
MECHANISM_NAMES: dict[int, str] = {
    CARD_BURST: "card_burst",
    ACCOUNT_TAKEOVER: "account_takeover",
    BREACHED_MERCHANT: "breached_merchant",
}


class MechanismWriter:
    """Appends the fraudulent rows of each chunk to the mechanisms file."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.file.write(b"transaction_id,mechanism\n")
        self.names = np.array(["", *MECHANISM_NAMES.values()], dtype=object)

    def write(self, ids: np.ndarray, mechanism: np.ndarray) -> None:
        """Write `id,name` for every row whose mechanism is not LEGITIMATE.

        Args:
            ids: the transaction ids of the chunk.
            mechanism: the int8 mechanism code of each row, aligned with `ids`.
        """
        fraud = mechanism != LEGITIMATE
        if not fraud.any():
            return
        lines = (f"{i},{name}\n" for i, name in
                 zip(ids[fraud].tolist(), self.names[mechanism[fraud]].tolist(), strict=True))
        self.file.write("".join(lines).encode())


def read_mechanisms(raw_dir: Path) -> pd.DataFrame | None:
    """The generator's mechanism per fraudulent transaction id, or None without the file.

    Args:
        raw_dir: the folder of the five source files (`Settings.raw_dir`).

    Returns:
        Columns `transaction_id` (int64) and `mechanism` (one of MECHANISM_NAMES' values),
        or None when the folder holds no generator truth (e.g. the real dataset).
    """
    path = Path(raw_dir) / MECHANISMS_FILE
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"transaction_id": "int64", "mechanism": "string"})
