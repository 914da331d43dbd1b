"""The fraud model: feature contract, training, evaluation, MLflow registry.

`features` (with `feature_sql`) defines the point-in-time features once, for the gold table and
for the scoring API; `train` fits and evaluates on a time split; `evaluate` holds the metrics
and plots; `tracking` logs to MLflow, registers and promotes; `registry` loads a registered
model for scoring; `cli` is `lakehouse train`. The pipeline's train stage is
`lakehouse.pipeline.ml.run_training_stage`.
"""
