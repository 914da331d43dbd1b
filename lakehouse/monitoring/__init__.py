"""Watching the model in production: drift (PSI), online/offline skew, freshness, shadow."""
