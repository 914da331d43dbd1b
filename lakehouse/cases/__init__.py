"""The fraud analysts' case queue: cases, their workflow, analysts and the audit log.

`/predict` (api_ml) decides approve / review / decline with the model's policy
(`lakehouse.ml.policy`); every review or decline becomes a case. The case first lands in a
durable local outbox (`outbox.py`) and a background worker moves it into the analytics DB
(`schema.py`, `store.py`). Analysts log in (`auth.py`), work the queue through the case API
and the UI, and every write is checked by `workflow.py` and appended to the audit log.
See docs/cases.md.
"""
