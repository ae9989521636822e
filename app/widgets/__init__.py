"""Widgets: layout and wiring only; logic lives in plain objects and the engine."""
