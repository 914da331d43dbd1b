"""Tables of the case queue in the analytics DB (SQLite embedded, PostgreSQL in containers).

- `cases`: one row per reviewed or declined transaction (key `case_id`, the transaction id
  when the request carried one), with what the model saw and said, and its workflow state.
- `case_notes`: analysts' notes, one row per note.
- `case_audit`: the append-only audit log — who, when, which action, the case before and
  after. Triggers refuse UPDATE and DELETE on both databases, so not even a bug can rewrite it.
- `case_users`, `case_tokens`: analysts (scrypt-hashed passwords, role) and the SHA-256 of
  the bearer tokens they were issued.

`ensure_schema` creates what is missing; the outbox worker, the case API and the CLI call it.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
Timestamp = sa.DateTime(timezone=True)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("case_id", sa.String(64), primary_key=True),
    sa.Column("transaction_id", sa.BigInteger, nullable=True, index=True),
    sa.Column("card_id", sa.BigInteger, nullable=True, index=True),
    sa.Column("client_id", sa.BigInteger, nullable=True),
    sa.Column("amount", sa.Float, nullable=False),
    sa.Column("fraud_probability", sa.Float, nullable=False),
    sa.Column("expected_loss", sa.Float, nullable=False, index=True),
    sa.Column("decision", sa.String(16), nullable=False),
    sa.Column("decision_rule", sa.String(200), nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("request", sa.JSON, nullable=False),
    sa.Column("model_name", sa.String(100), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("flavour", sa.String(16), nullable=False),
    sa.Column("scored_at", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("owner", sa.String(64), nullable=True),
    sa.Column("assigned_at", Timestamp, nullable=True),
    sa.Column("decided_by", sa.String(64), nullable=True),
    sa.Column("decided_at", Timestamp, nullable=True),
    sa.Column("updated_at", Timestamp, nullable=False),
)

case_notes = sa.Table(
    "case_notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(64), nullable=False, index=True),
    sa.Column("author", sa.String(64), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

case_audit = sa.Table(
    "case_audit",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("case_id", sa.String(64), nullable=True, index=True),
    sa.Column("before", sa.JSON, nullable=True),
    sa.Column("after", sa.JSON, nullable=True),
)

case_users = sa.Table(
    "case_users",
    metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

case_tokens = sa.Table(
    "case_tokens",
    metadata,
    sa.Column("token_sha256", sa.String(64), primary_key=True),
    sa.Column("username", sa.String(64), nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False),
)

_REFUSE = "case_audit is append-only"
for _statement in ("UPDATE", "DELETE"):
    sa.event.listen(
        case_audit,
        "after_create",
        sa.DDL(
            f"CREATE TRIGGER case_audit_no_{_statement.lower()} BEFORE {_statement} "
            f"ON case_audit BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END"
        ).execute_if(dialect="sqlite"),
    )
sa.event.listen(
    case_audit,
    "after_create",
    sa.DDL(
        "CREATE OR REPLACE FUNCTION case_audit_append_only() RETURNS trigger AS $$ "
        f"BEGIN RAISE EXCEPTION '{_REFUSE}'; END; $$ LANGUAGE plpgsql"
    ).execute_if(dialect="postgresql"),
)
sa.event.listen(
    case_audit,
    "after_create",
    sa.DDL(
        "CREATE TRIGGER case_audit_append_only BEFORE UPDATE OR DELETE ON case_audit "
        "FOR EACH ROW EXECUTE FUNCTION case_audit_append_only()"
    ).execute_if(dialect="postgresql"),
)


def ensure_schema(engine: sa.Engine) -> None:
    """Create the case tables (and the audit log's triggers) that do not exist yet.

    Args:
        engine: the cases database (PostgreSQL or SQLite; triggers on PostgreSQL only).
    """
    metadata.create_all(engine, checkfirst=True)
