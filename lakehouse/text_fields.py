"""What free text a service accepts before storing it: no NUL byte, no control characters.

PostgreSQL text columns refuse the NUL character (the driver raises, the request would answer
500), and control characters in names or notes only ever come from a broken client or an
attack on whoever reads them later. Every request field whose text is stored (analyst names,
reviewers, case notes) uses one of these patterns, so the refusal is a 422 naming the field,
the same on SQLite and PostgreSQL, and the OpenAPI document says what is accepted.
"""

from __future__ import annotations

# A name: printable characters only.
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
# A note: printable characters, tabs and line breaks.
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
