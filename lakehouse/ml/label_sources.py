"""Where the training set's labels came from: the reference file, or analysts' reviews.

Analysts' outcomes reach silver through sources_api's `/labels` (silver's `label_source` is
`analyst_review` for them, see docs/cases.md). Training counts how many of each window's
labeled rows are such reviewed labels and logs the counts to MLflow, so a run shows that the
case queue's feedback is in the data the model learned from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow.compute as pc
import pyarrow.dataset as ds

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.sources.labels import LABEL_SOURCES

if TYPE_CHECKING:  # the type only: importing train would load scikit-learn (the `ml` extra)
    from lakehouse.ml.training_data import Windows

ANALYST = LABEL_SOURCES[1]


def reviewed_ids(settings: Settings) -> set[int]:
    """Transaction ids whose silver label comes from an analyst's review.

    Args:
        settings: where the lake is.

    Returns:
        The ids; empty without silver_transactions or before it carried `label_source`.
    """
    uri = catalog.location("silver_transactions", settings)
    if not storage.exists(uri, settings):
        return set()
    dataset = storage.read_dataset(uri, settings)
    if "label_source" not in dataset.schema.names:  # a lake built before label sources
        return set()
    rows = dataset.to_table(columns=["transaction_id"], filter=ds.field("label_source") == ANALYST)
    return set(pc.unique(rows["transaction_id"]).to_pylist())


def analyst_label_counts(settings: Settings, windows: Windows) -> dict[str, int]:
    """Reviewed labels among each window's rows: `analyst_labels_{train,val,test}`.

    Args:
        settings: where the lake is.
        windows: the training split: frames `train`, `val`, `test` with a `transaction_id`
            column.

    Returns:
        `analyst_labels_train`, `analyst_labels_val`, `analyst_labels_test` -> count.
    """
    ids = reviewed_ids(settings)
    return {
        f"analyst_labels_{name}": int(getattr(windows, name)["transaction_id"].isin(ids).sum())
        for name in ("train", "val", "test")
    }
