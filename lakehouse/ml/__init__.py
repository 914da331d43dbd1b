"""The fraud model: feature contract, training, evaluation, MLflow registry.

The features themselves are declared once in `lakehouse.features`; `features` here names the
model's inputs and its request vocabulary; `sampling` is the one negative downsampling;
`train` fits and evaluates on a time split; `evaluate` holds the metrics and plots; `tracking`
logs to MLflow, registers and promotes; `mlflow_model` packages a model for MLflow's pyfunc
loader; `registry` loads a registered model for scoring; `cli` is `lakehouse train`. The
pipeline's train stage is `lakehouse.pipeline.ml.run_training_stage`.
"""
