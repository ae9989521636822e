"""The widget tests' fake Hub client, for the wizard tests too."""

from __future__ import annotations

from tests.unit.app.widgets.conftest import FakeHub, fake_hub

__all__ = ["FakeHub", "fake_hub"]
