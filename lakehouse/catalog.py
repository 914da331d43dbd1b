"""The catalog: every table of the lake by name, with its layer, grain and location.

Stages and models only ever speak of tables by catalog name (`silver_transactions`,
`dm_mcc_fraud_risk`, ...). The stage runner asks this module where a name lives — a folder
`<lake>/<layer>/<table>` on local disk or on S3 — so no model ever sees a path or a format
(docs/design.md rule 4). Silver and gold tables take their grain, key and description from
their model's declaration (`lakehouse.models`). Nothing is read or written here.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config import Settings, get_settings
from lakehouse.models import Declaration, declarations


@dataclass(frozen=True)
class CatalogEntry:
    """One Delta table of the lake."""

    name: str
    layer: str  # "bronze" | "silver" | "gold"
    folder: str  # relative to the lake root, e.g. "silver/transactions"
    grain: str
    description: str
    # The columns a row is looked up by: a published datamart's index, the API's path key.
    key: tuple[str, ...] = ()
    # Published into the analytics DB and served by the datamarts API.
    datamart: bool = False


def _entry(name: str, layer: str, folder: str, grain: str, description: str) -> CatalogEntry:
    return CatalogEntry(name, layer, f"{layer}/{folder}", grain, description)


def _model_entry(model: Declaration) -> CatalogEntry:
    """A silver or gold table as its model declares it, under `<lake>/<layer>/<name>` (without
    the name's layer prefix: `silver_cards` lives in `silver/cards`)."""
    folder = model.name.removeprefix(f"{model.layer}_")
    return CatalogEntry(model.name, model.layer, f"{model.layer}/{folder}", model.grain,
                        model.description, model.key, model.datamart)


def _partials_entry(model: Declaration) -> CatalogEntry:
    """The additive partial aggregates behind a gold table (its SQL's `partials`), kept so a
    run merges a new day into them instead of re-reading the history (docs/pipeline.md)."""
    return _entry(f"{model.name}_partials", "gold", f"partials/{model.name}",
                  model.partials_grain, f"additive partial aggregates of {model.name}")


# Bronze is written by the feeder, not by a model, so its tables are listed here; silver and
# gold come from the models' declarations (`lakehouse/models/<layer>/<table>.yml`).
_ENTRIES = (
    _entry("bronze_transactions", "bronze", "transactions", "one row per source row",
           "transaction batches extracted from the source DB by situation_date"),
    _entry("bronze_cards", "bronze", "cards", "one row per card (as in the file)",
           "cards_data.csv without cvv; card_number replaced by HMAC + last 4 digits"),
    _entry("bronze_users", "bronze", "users", "one row per user (as in the file)",
           "users_data.csv as received"),
    _entry("bronze_mcc_codes", "bronze", "mcc_codes", "one row per MCC code",
           "mcc_codes.json as rows"),
    _entry("bronze_fraud_labels", "bronze", "fraud_labels", "one row per labeled transaction",
           "train_fraud_labels.json as rows"),
    *(_model_entry(model) for model in declarations().values()),
    *(_partials_entry(model) for model in declarations().values() if model.partials_grain),
)

CATALOG: dict[str, CatalogEntry] = {entry.name: entry for entry in _ENTRIES}

BRONZE_TABLES = tuple(e.name for e in _ENTRIES if e.layer == "bronze")
SILVER_TABLES = tuple(e.name for e in _ENTRIES if e.layer == "silver")
DATAMARTS = tuple(e.name for e in _ENTRIES if e.datamart)
GOLD_TABLES = tuple(name for name, model in declarations().items() if model.layer == "gold")


def entry(name: str) -> CatalogEntry:
    """The catalog entry for `name`; a clear error for an unknown table.

    Args:
        name: a catalog name, e.g. `silver_transactions`.

    Returns:
        Its entry (layer, folder, grain, key).

    Raises:
        KeyError: an unknown name (the message lists the known ones).
    """
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise KeyError(f"unknown table {name!r}; the catalog knows: {known}") from None


def location(name: str, settings: Settings | None = None) -> str:
    """URI of the Delta table `name` (a local folder or an `s3://` prefix).

    Args:
        name: a catalog name.
        settings: where the lake is (`Settings.lake`); None means `get_settings()`.

    Returns:
        `<lake>/<layer>/<table>`.
    """
    lake = (settings or get_settings()).lake.rstrip("/")
    return f"{lake}/{entry(name).folder}"
