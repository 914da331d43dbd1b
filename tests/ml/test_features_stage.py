"""The gold stage writes ml_features piece by piece of time: same Delta table as the one-shot SQL.

Runs the pipeline runner's `build_model("ml_features")` on a real Delta `silver_transactions`
(the hand-made sample) with a tiny piece size, so the table is built in several time ranges
(each with the 30 days before it as window context) streamed into one commit, and compares it
with the one-shot model.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from ml_samples import silver_sample

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines.duckdb import DuckDBEngine
from lakehouse.ml import features as F
from lakehouse.pipeline import features_stage, runner
from lakehouse.pipeline.models import run_model


def test_gold_stage_builds_ml_features_in_time_pieces(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    settings = Settings(data_dir=tmp_path / "data", label_delay_days=7)
    silver = silver_sample()
    storage.write(catalog.location("silver_transactions", settings), silver, settings=settings)
    monkeypatch.setattr(features_stage, "ML_FEATURES_CHUNK_ROWS", 600)  # 2,500 rows -> 4-5 pieces
    engine = DuckDBEngine(threads=1)

    rows_in, rows_out, version = runner.build_model("ml_features", engine, settings)

    assert (rows_in, rows_out, version) == (silver.num_rows, silver.num_rows, 0)
    assert storage.last_metadata(catalog.location("ml_features", settings), settings)[
        "chunks"] >= 4
    written = storage.read_table(catalog.location("ml_features", settings), settings)
    expected = run_model(engine, "ml_features", {"silver_transactions": silver},
                         {})
    written, expected = (
        t.sort_by("transaction_id").to_pandas() for t in (written, expected)
    )
    assert list(written.columns) == F.KEY_COLUMNS + F.FEATURE_COLUMNS
    for column in F.FEATURE_COLUMNS:
        np.testing.assert_allclose(written[column].astype(float), expected[column].astype(float),
                                   rtol=1e-9, equal_nan=True, err_msg=column)
    # Nothing new upstream: the rerun is a no-op.
    assert runner.build_model("ml_features", engine, settings) == (0, 0, None)


def test_a_failed_check_leaves_the_previous_feature_table(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from lakehouse.pipeline.checks import DataCheckError

    settings = Settings(data_dir=tmp_path / "data", label_delay_days=7)
    silver = silver_sample()
    uri = catalog.location("silver_transactions", settings)
    storage.write(uri, silver, settings=settings)
    monkeypatch.setattr(features_stage, "ML_FEATURES_CHUNK_ROWS", 600)
    engine = DuckDBEngine(threads=1)
    runner.build_model("ml_features", engine, settings)
    # A duplicated transaction id in silver breaks the `unique` check of some bucket.
    storage.write(uri, pa.concat_tables([silver, silver.slice(2_000, 1)]), settings=settings)
    with pytest.raises(DataCheckError):
        runner.build_model("ml_features", engine, settings)
    assert storage.version(catalog.location("ml_features", settings), settings) == 0
