"""Tests of pipelines.text."""
