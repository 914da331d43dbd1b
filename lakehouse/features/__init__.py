"""Features of the fraud model, declared once and computed in batch and online.

- `derivations`: row-level meaning of a raw transaction (hour, online, abroad, errors...),
  used by the silver SQL model and by a scoring request;
- `declarations`: the behavioural features as data (entity, rows, aggregation, window);
- `batch_sql`: the `ml_features` gold SQL generated from the declarations;
- `online`: the online store — per-entity state updated per event, same numbers as the SQL.
"""
