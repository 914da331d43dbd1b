"""Bronze `fraud_labels`: train_fraud_labels.json plus the analysts' labels, in bounded memory.

The reference file is one JSON object of about nine million `"<id>": "Yes"|"No"` entries. In its
plain shape it is scanned in chunks by regular expressions straight into Arrow arrays (no Python
dict per label); any other shape goes through `json.loads`, which decides and reports errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lakehouse.sources.labels import LABEL_SOURCES


def bronze_fraud_labels(raw_json: bytes, analyst_labels: Sequence[dict] = ()) -> pa.Table:
    """The reference labels plus the analysts' labels, as one bronze table.

    train_fraud_labels.json (`{"target": {"id": "Yes"|"No"}}`) plus the analysts' labels
    (rows of the source DB's `analyst_labels`) → (transaction_id, target, label_source,
    label_known_at).

    An analyst's label replaces the reference file's for the same transaction: it is the
    later, reviewed outcome. Only analysts' labels carry `label_known_at` (UTC, when the
    decision was recorded); the reference file says nothing about when a label was known.

    Args:
        raw_json: the reference file's bytes.
        analyst_labels: rows of the source DB's `analyst_labels`.

    Returns:
        One row per labeled transaction.
    """
    reference = _scan_reference_labels(raw_json)
    if reference is None:  # not the plain shape: the JSON parser decides (and reports errors)
        parsed = {int(k): v for k, v in json.loads(raw_json).get("target", {}).items()}
        reference = (pa.array(list(parsed), pa.int64()),
                     pa.array(list(parsed.values()), pa.string()))
    return _with_analyst_labels(*reference, analyst_labels)


_LABELS_HEAD = re.compile(rb'\s*\{\s*"target"\s*:\s*\{')
_LABELS_TAIL = re.compile(rb'\}\s*\}\s*\Z')
_LABEL_ENTRY = re.compile(rb'\s*"\d{1,18}"\s*:\s*"(?:Yes|No)"\s*,')
_LABEL_ID = re.compile(rb'"(\d+)"\s*:')
_LABEL_VALUE = re.compile(rb':\s*"(Y|N)')
_SCAN_CHUNK = 4 << 20


def _scan_reference_labels(raw_json: bytes) -> tuple[pa.Array, pa.Array] | None:
    """(ids, targets) of a labels file in its plain shape, in bounded memory; else None.

    The plain shape is the one the generator writes: one `target` object of decimal ids
    (at most 18 digits) to "Yes"/"No", each id once. The body is validated and read in
    chunks of about `_SCAN_CHUNK` bytes, so no Python object per label is kept. Anything
    else (other keys, escapes, other values, duplicates, bad JSON) returns None and goes
    to `json.loads`, which keeps its meaning and its errors.

    Args:
        raw_json: the reference file's bytes.

    Returns:
        (int64 ids, "Yes"/"No" strings) in file order, or None.
    """
    head, tail = _LABELS_HEAD.match(raw_json), _LABELS_TAIL.search(raw_json)
    if head is None or tail is None or tail.start() < head.end():
        return None
    ids: list[pa.Array] = []
    fraud: list[pa.Array] = []
    pos, stop = head.end(), tail.start()
    while pos < stop:
        cut = raw_json.find(b",", min(pos + _SCAN_CHUNK, stop), stop)
        cut = stop if cut < 0 else cut + 1
        chunk = raw_json[pos:cut] if cut < stop else raw_json[pos:cut] + b","
        if _LABEL_ENTRY.sub(b"", chunk):  # something between or around the entries
            return None
        ids.append(pc.cast(pa.array(_LABEL_ID.findall(chunk), pa.string()), pa.int64()))
        fraud.append(pc.equal(pa.array(_LABEL_VALUE.findall(chunk), pa.string()), "Y"))
        pos = cut
    id_column = pa.chunked_array(ids, pa.int64()).combine_chunks()
    if _has_duplicates(id_column):
        return None
    yes = pa.chunked_array(fraud, pa.bool_()).combine_chunks()
    return id_column, pc.if_else(yes, "Yes", "No")


def _has_duplicates(ids: pa.Array) -> bool:
    """Whether an int64 array holds a value twice (sorted copy: no hash table per value).

    Args:
        ids: int64 values without nulls.

    Returns:
        True when some value occurs more than once.
    """
    values = ids.to_numpy(zero_copy_only=False)
    if len(values) < 2 or bool(np.all(values[1:] > values[:-1])):  # the generator's order
        return False
    ordered = np.sort(values)
    return bool(np.any(ordered[1:] == ordered[:-1]))


def _with_analyst_labels(
    ids: pa.Array, targets: pa.Array, analyst_labels: Sequence[dict]
) -> pa.Table:
    """The reference labels with the analysts' labels laid over them.

    An analyst's label replaces the reference row in place; labels of transactions the
    file does not name are appended in the analysts' order (the later label wins).

    Args:
        ids: the reference file's transaction ids (unique).
        targets: their "Yes"/"No".
        analyst_labels: rows of the source DB's `analyst_labels`.

    Returns:
        One row per labeled transaction.
    """
    reviewed: dict[int, tuple[str, datetime]] = {}
    for label in analyst_labels:
        reviewed[int(label["transaction_id"])] = (
            "Yes" if label["is_fraud"] else "No",
            label["label_known_at"].astimezone(UTC).replace(tzinfo=None))
    keys = pa.array(list(reviewed), pa.int64())
    a_target = pa.array([t for t, _ in reviewed.values()], pa.string())
    a_known = pa.array([k for _, k in reviewed.values()], pa.timestamp("us"))
    where = pc.index_in(ids, value_set=keys)
    hit = pc.is_valid(where)
    replaced = where.null_count < len(where)
    reference = pa.table({
        "transaction_id": ids,
        "target": pc.if_else(hit, pc.take(a_target, where), targets) if replaced else targets,
        "label_source": pc.if_else(hit, LABEL_SOURCES[1], LABEL_SOURCES[0]),
        "label_known_at": (pc.take(a_known, where) if replaced
                           else pa.nulls(len(ids), pa.timestamp("us"))),
    })
    new_mask = np.ones(len(keys), dtype=bool)  # from `where`: no hash table of every id
    new_mask[pc.drop_null(where).to_numpy(zero_copy_only=False)] = False
    if not new_mask.any():
        return reference
    new = pa.array(new_mask)
    extra = pa.table({
        "transaction_id": pc.filter(keys, new),
        "target": pc.filter(a_target, new),
        "label_source": pa.array([LABEL_SOURCES[1]] * int(new_mask.sum()), pa.string()),
        "label_known_at": pc.filter(a_known, new),
    })
    return pa.concat_tables([reference, extra])  # two chunks: no copy of the reference rows
