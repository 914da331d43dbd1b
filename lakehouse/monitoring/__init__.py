"""Watching the model in production: freshness, online/offline skew, shadow challenger.

Drift bins are computed at training, so they live with the model code (`lakehouse.ml.psi`).
"""
