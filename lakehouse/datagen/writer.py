"""Fast text output: transaction rows to CSV bytes and labels to the JSON file, chunk by chunk.

The generator hands each sorted chunk (`Rows` plus ids and the label draw) to
`TransactionWriter.write`; every column is rendered with Arrow's vectorized string kernels
and the chunk's lines are joined in one Arrow buffer that goes to disk as it is, so no Python
loop runs per row. Labels stream into `train_fraud_labels.json` the same way, so neither file
is ever held in memory whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse import formats
from lakehouse.datagen import mcc
from lakehouse.datagen.behaviour import Rows
from lakehouse.datagen.population import Population


def error_texts() -> list[str]:
    """CSV field text of every error bit mask; combinations are quoted (they hold commas).

    Returns:
        Indexed by bit mask (0 to `2**len(ERROR_VALUES) - 1`): the `errors` field text, most
        specific error first; "" for no error.
    """
    texts = []
    for bits in range(1 << len(formats.ERROR_VALUES)):
        # Most specific first, as in the source ("Bad PIN,Insufficient Balance").
        names = [name for k, name in reversed(list(enumerate(formats.ERROR_VALUES)))
                 if bits >> k & 1]
        text = ",".join(names)
        texts.append(f'"{text}"' if len(names) > 1 else text)
    return texts


def buffer_bytes(lines: pa.Array) -> memoryview:
    """The concatenated UTF-8 bytes of a string array's values (zero-copy).

    Args:
        lines: a string or large-string array (a chunked one is combined first).

    Returns:
        A view on the array's data buffer from its first to its last value.
    """
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    offset_type = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    _, offsets_buf, data_buf = lines.buffers()
    first = lines.offset
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[first: first + len(lines) + 1]
    return memoryview(data_buf)[int(offsets[0]): int(offsets[-1])]


class TransactionWriter:
    """Writes transactions_data.csv and train_fraud_labels.json incrementally."""

    def __init__(self, population: Population, csv_file: BinaryIO, labels_file: BinaryIO) -> None:
        self.csv = csv_file
        self.labels = labels_file
        self.first_label = True
        to_text = pa.array
        self.card_ids = pc.cast(to_text(population.card_ids), pa.string())
        self.merchant_ids = pc.cast(to_text(population.merchant_ids), pa.string())
        self.merchant_city = to_text(population.merchant_city.tolist(), pa.string())
        self.merchant_state = to_text(population.merchant_state.tolist(), pa.string())
        self.merchant_zip = to_text(population.merchant_zip.tolist(), pa.string())
        self.merchant_mcc = pc.cast(to_text(mcc.CODES[population.merchant_mcc]), pa.string())
        self.use_chip = to_text(list(formats.USE_CHIP_VALUES), pa.string())
        self.errors = to_text(error_texts(), pa.string())
        self.cents_text = to_text([f"{c:02d}" for c in range(100)], pa.string())
        self.csv.write((",".join(formats.TRANSACTION_COLUMNS) + "\n").encode())
        self.labels.write(b'{"target": {')

    def _amounts(self, cents: np.ndarray) -> pa.Array:
        magnitude = np.abs(cents)
        sign = pa.array(np.where(cents < 0, "$-", "$"))
        dollars = pc.cast(pa.array(magnitude // 100), pa.string())
        return pc.binary_join_element_wise(sign, dollars, ".",
                                           self.cents_text.take(pa.array(magnitude % 100)), "")

    def write(self, rows: Rows, ids: np.ndarray, labeled: np.ndarray) -> None:
        """Append one chunk (already sorted by time) and its labels.

        Args:
            rows: the chunk's transactions.
            ids: the transaction id of each row.
            labeled: True where the row's verdict goes into train_fraud_labels.json.
        """
        id_text = pc.cast(pa.array(ids), pa.string())
        merchant = pa.array(rows.merchant)
        columns = [
            id_text,
            pc.cast(pa.array(rows.ts, type=pa.timestamp("s")), pa.string()),
            pc.cast(pa.array(rows.client), pa.string()),
            self.card_ids.take(pa.array(rows.card)),
            self._amounts(rows.cents),
            self.use_chip.take(pa.array(rows.chip)),
            self.merchant_ids.take(merchant),
            self.merchant_city.take(merchant),
            self.merchant_state.take(merchant),
            self.merchant_zip.take(merchant),
            self.merchant_mcc.take(merchant),
            self.errors.take(pa.array(rows.errors)),
        ]
        lines = pc.binary_join_element_wise(*columns, ",")
        self.csv.write(buffer_bytes(pc.binary_join_element_wise(lines, "", "\n")))
        self._write_labels(id_text.filter(pa.array(labeled)), rows.fraud[labeled])

    def _write_labels(self, ids: pa.Array, fraud: np.ndarray) -> None:
        if len(ids) == 0:
            return
        verdict = pa.array(np.where(fraud, '": "Yes", "', '": "No", "'))
        entries = buffer_bytes(pc.binary_join_element_wise(ids, verdict, ""))
        # Entries look like 123": "No", " — the file's opening quote comes before the first,
        # and the dangling `, "` after the last one is dropped at close.
        self.labels.write(b'"' if self.first_label else b'')
        self.labels.write(entries)
        self.first_label = False

    def close(self) -> None:
        """Finish the labels JSON (drop the trailing separator, close the objects)."""
        if not self.first_label:
            self.labels.seek(-3, 2)
            self.labels.truncate()
        self.labels.write(b"}}")


def write_mcc_json(path: Path) -> None:
    """mcc_codes.json: {"5812": "Eating Places and Restaurants", ...}.

    Args:
        path: the file to write (replaced if present).
    """
    path.write_text(json.dumps(mcc.mcc_json_mapping()), encoding="utf-8")
