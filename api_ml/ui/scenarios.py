"""Quick scenarios for the scoring form, taken from real labeled transactions of the lake.

The "normal", "suspect" and "fraud" buttons of the score page must show what the model does
on the data it was built for, not on numbers someone typed once. So this module reads
the most recent labeled purchases out of `silver_transactions` (the Delta table named by
`lakehouse.catalog`, wherever `Settings.lake` points: local folder or S3), turns each row into
the scoring API's request (the seed's eleven fields plus the ids that select the full model),
and — given the score the API returns for each of them, scored alone — picks the legitimate
one scored lowest (normal), the labeled fraud scored highest (fraud) and the one closest to
the decision threshold (suspect). Nothing here draws anything; the page module shows the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lakehouse import catalog, storage
from lakehouse.config import Settings
from lakehouse.engines.duckdb import session

SEED_FIELDS = ("amount", "card_brand", "card_type", "merchant_state", "use_chip",
               "credit_limit", "per_capita_income", "yearly_income", "total_debt",
               "credit_score", "num_credit_cards")
# silver column -> request field, for the optional fields that select the full model.
ID_FIELDS = {"transaction_id": "transaction_id", "card_id": "card_id", "client_id": "client_id",
             "merchant_id": "merchant_id", "mcc_code": "mcc", "ts": "timestamp",
             "merchant_city": "merchant_city", "zip": "zip", "errors": "errors"}
SAMPLE_COLUMNS = [*SEED_FIELDS, *ID_FIELDS, "label"]
SCENARIO_NAMES = ("normal", "suspect", "fraud")


class SampleUnavailable(RuntimeError):
    """The lake has no labeled transactions to draw scenarios from (the message says why)."""


@dataclass
class LabeledSample:
    """Scoring requests built from labeled lake rows, with their true labels."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)

    @property
    def frauds(self) -> int:
        """How many of the sampled requests are labeled fraud."""
        return sum(self.labels)


def request_from_row(row: dict[str, Any]) -> dict[str, Any]:
    """A `/predict` body from one silver row: seed fields, then the optional identifiers.

    Args:
        row: a silver_transactions row with the `SAMPLE_COLUMNS`.

    Returns:
        The request body; `ts` as ISO 8601, and no `errors` for silver's "no error".
    """
    body: dict[str, Any] = {name: row.get(name) for name in SEED_FIELDS}
    body["amount"] = float(body["amount"])
    for column, name in ID_FIELDS.items():
        value = row.get(column)
        if value is None:
            continue
        if column == "ts":
            value = value.isoformat()
        elif column == "errors" and value == "no error":
            continue  # silver's placeholder for "no error" is not an error list
        body[name] = value
    return body


def sample_labeled(settings: Settings, frauds: int = 8, legitimate: int = 12) -> LabeledSample:
    """The most recent labeled purchases of silver: `frauds` frauds and `legitimate` others.

    Recent rows, because the scoring API keeps only the lake's recent history in memory: an
    old transaction re-scored alone would miss the card history it had when it happened.

    Args:
        settings: where the lake is.
        frauds: how many labeled frauds to take at most.
        legitimate: how many labeled legitimate purchases to take at most.

    Returns:
        The requests, frauds first, with their labels (1 = fraud).

    Raises:
        SampleUnavailable: no silver table yet, or not a single labeled fraud in it.
    """
    uri = catalog.location("silver_transactions", settings)
    if not storage.exists(uri, settings):
        raise SampleUnavailable(
            f"no silver_transactions table at {uri}; run `lakehouse pipeline run` first"
        )
    columns = ", ".join(SAMPLE_COLUMNS)
    latest = f"SELECT {columns} FROM silver WHERE amount > 0 AND label = ? ORDER BY ts DESC, " \
             "transaction_id DESC LIMIT ?"
    rows: list[dict[str, Any]] = []
    # DuckDB keeps only the top rows while it scans, so this stays small at full scale.
    with session({"silver": storage.read_dataset(uri, settings)}, settings) as connection:
        for label, limit in ((1, frauds), (0, legitimate)):
            cursor = connection.execute(latest, [label, limit])
            names = [d[0] for d in cursor.description]
            rows += [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    sample = LabeledSample([request_from_row(r) for r in rows], [int(r["label"]) for r in rows])
    if not sample.frauds:
        raise SampleUnavailable(f"silver_transactions at {uri} holds no labeled fraud yet")
    return sample


def choose_scenarios(
    sample: LabeledSample, probabilities: list[float], threshold: float
) -> dict[str, dict[str, Any]]:
    """normal / suspect / fraud requests, chosen by the model's own scores on real rows.

    Args:
        sample: labeled requests from `sample_labeled`.
        probabilities: the scoring API's `fraud_probability` for each request, same order.
        threshold: the model's decision threshold.

    Returns:
        `{name: {"request": ..., "label": 0|1, "probability": p}}` for each scenario found.
    """
    rows = list(zip(sample.requests, sample.labels, probabilities, strict=True))
    legit = [r for r in rows if r[1] == 0]
    fraud = [r for r in rows if r[1] == 1]
    chosen: dict[str, tuple[dict[str, Any], int, float]] = {}
    if legit:
        chosen["normal"] = min(legit, key=lambda r: r[2])
    if fraud:
        chosen["fraud"] = max(fraud, key=lambda r: r[2])
    others = [r for r in rows if all(r is not c for c in chosen.values())]
    if others:
        chosen["suspect"] = min(others, key=lambda r: abs(r[2] - threshold))
    return {name: {"request": r[0], "label": r[1], "probability": r[2]}
            for name, r in chosen.items()}

