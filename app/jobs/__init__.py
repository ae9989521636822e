"""Conversion jobs: the Job record, the worker thread that runs the engine, the queue and its list model."""
