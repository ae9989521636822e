"""Settings: typed round trip through a real QSettings file, validation, migrations, and no secrets."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from app.settings import OPTIONS, TOKEN_PATTERN, SCHEMA_VERSION, VERSION_KEY, Settings, default_output_dir, looks_secret
from engine.errors import UsageError
from engine.quant.ftypes import parse_file_type

TOKEN = "hf_" + "aB3" * 12


def ini(path: Path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


def test_defaults_on_an_empty_store(tmp_path: Path) -> None:
    settings = Settings(ini(tmp_path / "s.ini"))
    assert settings.output_dir() == default_output_dir()
    assert [ft.name for ft in settings.default_types()] == ["Q4_K_M"]
    assert settings.theme() == "system"
    assert settings.device() == "auto"
    assert settings.threads() is None
    assert settings.vram_margin_bytes() == 1024 << 20
    assert settings.ram_margin_bytes() == 2048 << 20
    assert settings.wizard_done() is False
    assert settings.store.value(VERSION_KEY) == str(SCHEMA_VERSION)


def test_round_trip_through_the_file(tmp_path: Path, qtbot) -> None:
    path = tmp_path / "s.ini"
    settings = Settings(ini(path))
    seen: list[str] = []
    settings.changed.connect(seen.append)
    settings.set("output_dir", tmp_path / "models")
    settings.set("default_types", (parse_file_type("q8_0"), parse_file_type("Q4_K")))
    settings.set("threads", 3)
    settings.set("vram_margin_mib", 512)
    settings.set("ram_margin_mib", 4096)
    settings.set("theme", "dark")
    settings.set("device", "CPU")
    settings.set("wizard_done", True)
    settings.set("theme", "dark")  # unchanged: no signal
    settings.sync()
    assert seen == ["output_dir", "default_types", "threads", "vram_margin_mib", "ram_margin_mib", "theme",
                    "device", "wizard_done"]
    again = Settings(ini(path))
    assert again.output_dir() == tmp_path / "models"
    assert [ft.name for ft in again.default_types()] == ["Q8_0", "Q4_K_M"]
    assert again.threads() == 3
    assert again.vram_margin_bytes() == 512 << 20 and again.ram_margin_bytes() == 4096 << 20
    assert again.theme() == "dark" and again.wizard_done() is True
    assert again.device() == "cpu"
    again.reset("theme")
    assert again.theme() == "system"


@pytest.mark.parametrize(("name", "value"), [
    ("output_dir", "relative/folder"), ("output_dir", ""), ("default_types", "Q4_K_Z"),
    ("default_types", "IQ2_XXS"), ("default_types", ""), ("threads", -1), ("theme", "purple"), ("device", "tpu"),
    ("vram_margin_mib", "lots"),
])
def test_invalid_values_are_refused(tmp_path: Path, name: str, value: object) -> None:
    settings = Settings(ini(tmp_path / "s.ini"))
    with pytest.raises(UsageError):
        settings.set(name, value)
    assert settings.store.value(OPTIONS[name].key) is None


def test_unknown_names_are_bugs(tmp_path: Path) -> None:
    settings = Settings(ini(tmp_path / "s.ini"))
    with pytest.raises(KeyError):
        settings.get("hf_token")
    with pytest.raises(KeyError):
        settings.set("token", TOKEN)


def test_damaged_values_fall_back_to_defaults(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = ini(tmp_path / "s.ini")
    store.setValue(VERSION_KEY, "1")
    store.setValue("convert/default_types", "Q9_K_XXL")
    store.setValue("ui/theme", "neon")
    with caplog.at_level(logging.WARNING, logger="app.settings"):
        settings = Settings(store)
        assert [ft.name for ft in settings.default_types()] == ["Q4_K_M"]
        assert settings.theme() == "system"
    assert "default" in caplog.text


def test_tokens_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.ini"
    store = ini(path)
    store.setValue("hub/token", TOKEN)  # as a careless older version might have written it
    store.setValue("convert/output_dir", f"/models/{TOKEN}")
    store.sync()
    settings = Settings(ini(path))
    with pytest.raises(UsageError, match="never stores access tokens"):
        settings.set("output_dir", tmp_path / TOKEN)
    settings.set("output_dir", tmp_path / "fine")
    settings.sync()
    text = path.read_text()
    assert TOKEN_PATTERN.search(text) is None
    assert not [k for k in settings.store.allKeys() if "token" in k.lower()]
    assert all(not looks_secret(k, settings.store.value(k)) for k in settings.store.allKeys())


def test_migrations_run_in_order_and_stamp_the_version(tmp_path: Path) -> None:
    store = ini(tmp_path / "s.ini")
    store.setValue(VERSION_KEY, "1")
    store.setValue("old/theme", "dark")
    steps: list[int] = []

    def rename_theme(s: QSettings) -> None:
        steps.append(1)
        s.setValue("ui/theme", s.value("old/theme"))
        s.remove("old/theme")

    def nothing(s: QSettings) -> None:
        steps.append(2)

    settings = Settings(store, migrations={1: rename_theme, 2: nothing}, schema_version=3)
    assert steps == [1, 2]
    assert settings.theme() == "dark" and store.value("old/theme") is None
    assert store.value(VERSION_KEY) == "3"


def test_unversioned_stores_count_as_version_one_and_gaps_fail(tmp_path: Path) -> None:
    store = ini(tmp_path / "s.ini")
    store.setValue("ui/theme", "light")
    with pytest.raises(RuntimeError, match="from schema version 1"):
        Settings(store, migrations={}, schema_version=2)


def test_newer_stores_are_left_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = ini(tmp_path / "s.ini")
    store.setValue(VERSION_KEY, str(SCHEMA_VERSION + 5))
    with caplog.at_level(logging.WARNING, logger="app.settings"):
        Settings(store)
    assert store.value(VERSION_KEY) == str(SCHEMA_VERSION + 5)
    assert "newer Quantpick" in caplog.text
