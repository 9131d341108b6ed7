"""Metrics that models and pipelines report through."""
