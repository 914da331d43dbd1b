"""The catalog: every table of the lake by name, with its layer, grain and location.

Stages and models only ever speak of tables by catalog name (`silver_transactions`,
`dm_mcc_fraud_risk`, ...). The stage runner asks this module where a name lives — a folder
`<lake>/<layer>/<table>` on local disk or on S3 — so no model ever sees a path or a format
(docs/design.md rule 4). Nothing is read or written here.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.config import Settings, get_settings


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


def _datamart(name: str, key: str, grain: str, description: str) -> CatalogEntry:
    return CatalogEntry(name, "gold", f"gold/{name}", grain, description, (key,), datamart=True)


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
    _entry("silver_cards", "silver", "cards", "one row per card", "typed cards"),
    _entry("silver_users", "silver", "users", "one row per client", "typed users"),
    _entry("silver_transactions", "silver", "transactions", "one row per transaction id",
           "typed, cleaned, deduplicated transactions joined with cards, users, MCC and labels"),
    _datamart("dm_client_features", "client_id", "one row per client",
           "purchase and fraud profile of each client"),
    _datamart("dm_card_features", "tx_card_id", "one row per card",
           "purchase and fraud profile of each card"),
    _datamart("dm_client_velocity", "client_id", "one row per client",
           "purchases per active calendar day"),
    _datamart("dm_mcc_fraud_risk", "mcc_code", "one row per MCC code",
           "fraud and drop rates per merchant category"),
    _datamart("dm_time_of_day_fraud", "hour", "one row per hour 0-23",
           "fraud and drop rates per hour of the day"),
    _entry("ml_features", "gold", "ml_features", "one row per transaction",
           "point-in-time behavioural features for training and scoring"),
    # The additive partial aggregates behind each datamart (its SQL's `partials`), kept so a
    # run merges a new day into them instead of re-reading the history (docs/pipeline.md).
    *(_entry(f"{name}_partials", "gold", f"partials/{name}", grain,
             f"additive partial aggregates of {name}")
      for name, grain in (
          ("dm_client_features", "one row per (client, merchant)"),
          ("dm_card_features", "one row per card"),
          ("dm_client_velocity", "one row per (client, calendar day)"),
          ("dm_mcc_fraud_risk", "one row per MCC code"),
          ("dm_time_of_day_fraud", "one row per hour 0-23"),
      )),
)

CATALOG: dict[str, CatalogEntry] = {entry.name: entry for entry in _ENTRIES}

BRONZE_TABLES = tuple(e.name for e in _ENTRIES if e.layer == "bronze")
SILVER_TABLES = tuple(e.name for e in _ENTRIES if e.layer == "silver")
DATAMARTS = tuple(e.name for e in _ENTRIES if e.datamart)
GOLD_TABLES = (*DATAMARTS, "ml_features")


def entry(name: str) -> CatalogEntry:
    """The catalog entry for `name`; a clear error for an unknown table."""
    try:
        return CATALOG[name]
    except KeyError:
        known = ", ".join(sorted(CATALOG))
        raise KeyError(f"unknown table {name!r}; the catalog knows: {known}") from None


def location(name: str, settings: Settings | None = None) -> str:
    """URI of the Delta table `name` (a local folder or an `s3://` prefix)."""
    lake = (settings or get_settings()).lake.rstrip("/")
    return f"{lake}/{entry(name).folder}"
