"""Quantpick's PySide6 desktop app. Imports the engine; the engine never imports this."""
