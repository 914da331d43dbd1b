"""Small JSON documents kept in the lake beside its tables (local folder or S3).

The feeder keeps there what it needs between runs that is not table data, such as the HTTP
validators of the reference files bronze holds (`lakehouse.pipeline.reference_feed`). Each
document is replaced whole: a rename on local disk, a single PUT on S3, so a reader never
sees half of one.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs

from lakehouse.config import Settings
from lakehouse.storage.delta import filesystem


def read_json(uri: str, settings: Settings) -> dict[str, Any]:
    """The JSON object stored at `uri` (empty when there is none or it is not an object).

    Args:
        uri: a file in the lake (`<lake>/...`, local or `s3://`).
        settings: the storage options.

    Returns:
        The object, or `{}`.
    """
    fs, path = filesystem(uri, settings.storage_options())
    try:
        with fs.open_input_stream(path) as stream:
            value = json.loads(stream.read())
    except (FileNotFoundError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def write_json(uri: str, value: dict[str, Any], settings: Settings) -> None:
    """Store the JSON object `value` at `uri`, replacing what was there in one step.

    Args:
        uri: a file in the lake (`<lake>/...`, local or `s3://`).
        value: a JSON-serialisable object.
        settings: the storage options.
    """
    data = json.dumps(value, sort_keys=True).encode()
    fs, path = filesystem(uri, settings.storage_options())
    if isinstance(fs, pafs.LocalFileSystem):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        partial = f"{path}.{uuid.uuid4().hex}.tmp"
        with fs.open_output_stream(partial) as stream:
            stream.write(pa.py_buffer(data))
        os.replace(partial, path)
        return
    with fs.open_output_stream(path) as stream:
        stream.write(pa.py_buffer(data))
