"""Persisted preferences: a declared, versioned schema over QSettings with typed getters.

Every option is declared once in ``OPTIONS`` (key, default, parser, description); reading parses and falls
back to the default on damaged values, writing validates first. The store carries ``meta/version``;
older stores are brought forward by the functions in ``MIGRATIONS``. Window state lives apart under
``state/``. Secrets never enter: no option can hold a Hugging Face token, and any key or value that
looks like one is deleted when the store is opened (huggingface_hub keeps the token in its own file).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Signal

from engine.errors import UsageError
from engine.quant.ftypes import FileType, parse_file_type
from engine.quant.device import DEVICE_CHOICES

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
VERSION_KEY = "meta/version"
THEMES = ("system", "light", "dark")
TOKEN_PATTERN = re.compile(r"hf_[A-Za-z0-9]{20,}")
_SECRET_KEY = re.compile(r"token|secret|password", re.IGNORECASE)

Migration = Callable[[QSettings], None]
# MIGRATIONS[n] turns a version-n store into version n+1. Version 1 is the first released schema.
MIGRATIONS: dict[int, Migration] = {}


def default_output_dir() -> Path:
    """``~/Documents/Quantpick`` (or the platform's equivalent); created when a job first writes there."""
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return Path(docs or Path.home()) / "Quantpick"


def _parse_path(raw: Any) -> Path:
    text = str(raw).strip()
    if not text:
        raise ValueError("empty path")
    path = Path(text).expanduser()
    if not path.is_absolute():
        raise ValueError(f"{text} is not an absolute path")
    return path


def _parse_types(raw: Any) -> tuple[FileType, ...]:
    names = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
    types: list[FileType] = []
    for name in (str(n).strip() for n in names):
        if name:
            ft = parse_file_type(name)
            if ft not in types:
                types.append(ft)
    if not types:
        raise ValueError("no file type")
    return tuple(types)


def _dump_types(value: tuple[FileType, ...]) -> str:
    return ",".join(ft.name for ft in value)


def _int_in(low: int, high: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        value = int(str(raw).strip())
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value
    return parse


def _parse_theme(raw: Any) -> str:
    text = str(raw).strip().lower()
    if text not in THEMES:
        raise ValueError(f"unknown theme {text!r}")
    return text


def _parse_device(raw: Any) -> str:
    text = str(raw).strip().lower()
    if text not in DEVICE_CHOICES:
        raise ValueError(f"unknown device {text!r}")
    return text


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text not in ("true", "false", "1", "0"):
        raise ValueError(f"not a yes/no value: {text!r}")
    return text in ("true", "1")


@dataclass(frozen=True, slots=True)
class Option:
    """One persisted setting.

    Attributes:
        key: The QSettings key.
        default: Returns the value used when nothing valid is stored.
        parse: Stored value -> typed value; raises ValueError or UsageError on anything invalid.
        dump: Typed value -> what is stored (always a string, so every QSettings backend agrees).
        description: What it means, for the settings dialog.
    """

    key: str
    default: Callable[[], Any]
    parse: Callable[[Any], Any]
    dump: Callable[[Any], str]
    description: str


OPTIONS: Mapping[str, Option] = {
    "output_dir": Option("convert/output_dir", default_output_dir, _parse_path, str,
                         "Folder that converted GGUF files are written to."),
    "default_types": Option("convert/default_types", lambda: (parse_file_type("Q4_K_M"),), _parse_types,
                            _dump_types, "File types preselected when a model is dropped."),
    "threads": Option("convert/threads", lambda: 0, _int_in(0, 1024), str,
                      "Threads a conversion may use; 0 uses every processor core."),
    "vram_margin_mib": Option("fit/vram_margin_mib", lambda: 1024, _int_in(0, 1 << 20), str,
                              "Memory kept free on each GPU, in MiB (llama.cpp's --fit-target)."),
    "ram_margin_mib": Option("fit/ram_margin_mib", lambda: 2048, _int_in(0, 1 << 22), str,
                             "System memory kept free for the operating system and other programs, in MiB."),
    "device": Option("convert/device", lambda: "auto", _parse_device, str,
                     "Where conversions quantize: auto uses an NVIDIA GPU when CuPy is installed, else the CPU."),
    "theme": Option("ui/theme", lambda: "system", _parse_theme, str,
                    "Colours: follow the system, or always light or dark."),
}
STATE: Mapping[str, Option] = {
    "wizard_done": Option("state/wizard_done", lambda: False, _parse_bool, lambda v: "true" if v else "false",
                          "The hardware-fit wizard has been shown once."),
}


def looks_secret(key: str, value: Any) -> bool:
    """A key named like a credential, or a value that contains a Hugging Face token."""
    return bool(_SECRET_KEY.search(key)) or bool(TOKEN_PATTERN.search(str(value)))


class Settings(QObject):
    """Typed access to the persisted options.

    Signals:
        changed(str): the option with this name got a new value.

    Args:
        store: The QSettings to use (tests pass an INI file); default: the app's native store.
        migrations: Version upgrades to apply (default ``MIGRATIONS``).
    """

    changed = Signal(str)

    def __init__(self, store: QSettings | None = None, parent: QObject | None = None, *,
                 migrations: Mapping[int, Migration] | None = None,
                 schema_version: int = SCHEMA_VERSION) -> None:
        super().__init__(parent)
        self._store = store if store is not None else QSettings()
        self._schema_version = schema_version
        self._purge_secrets()
        self._migrate(MIGRATIONS if migrations is None else migrations)

    @property
    def store(self) -> QSettings:
        return self._store

    def get(self, name: str) -> Any:
        """The typed value of option ``name``; the default if nothing valid is stored."""
        option = self._option(name)
        raw = self._store.value(option.key)
        if raw is None:
            return option.default()
        try:
            return option.parse(raw)
        except (ValueError, TypeError, UsageError) as e:
            log.warning("Ignoring the stored %s (%s); using the default.", name, e)
            return option.default()

    def set(self, name: str, value: Any) -> None:
        """Validate and store ``value``; emits ``changed(name)`` if it differs.

        Raises:
            UsageError: the value is invalid for this option, or looks like a secret.
        """
        option = self._option(name)
        raw = value if isinstance(value, str) else option.dump(value)
        if looks_secret(option.key, raw):
            raise UsageError("Quantpick never stores access tokens in its settings.",
                             "Log in with 'hf auth login'; the token stays in Hugging Face's own file.")
        try:
            typed = option.parse(raw)
        except (ValueError, TypeError) as e:
            raise UsageError(f"{raw!r} is not a valid value for {name.replace('_', ' ')} ({e}).") from e
        if self._store.value(option.key) == raw:
            return
        self._store.setValue(option.key, option.dump(typed))
        self.changed.emit(name)

    def reset(self, name: str) -> None:
        """Forget the stored value of ``name`` so the default applies."""
        self._store.remove(self._option(name).key)
        self.changed.emit(name)

    def sync(self) -> None:
        self._store.sync()

    # typed getters, so callers cannot misspell a name or misread a type

    def output_dir(self) -> Path:
        return cast(Path, self.get("output_dir"))

    def default_types(self) -> tuple[FileType, ...]:
        return cast("tuple[FileType, ...]", self.get("default_types"))

    def threads(self) -> int | None:
        """Conversion threads, None for "every core"."""
        return int(self.get("threads")) or None

    def vram_margin_bytes(self) -> int:
        return int(self.get("vram_margin_mib")) << 20

    def ram_margin_bytes(self) -> int:
        return int(self.get("ram_margin_mib")) << 20

    def device(self) -> str:
        return str(self.get("device"))

    def theme(self) -> str:
        return str(self.get("theme"))

    def wizard_done(self) -> bool:
        return bool(self.get("wizard_done"))

    # upkeep

    def _option(self, name: str) -> Option:
        option = OPTIONS.get(name) or STATE.get(name)
        if option is None:
            raise KeyError(f"unknown setting {name!r}")
        return option

    def _purge_secrets(self) -> None:
        for key in self._store.allKeys():
            if looks_secret(key, self._store.value(key)):
                log.warning("Removed %s from the settings: credentials are never stored there.", key)
                self._store.remove(key)

    def _migrate(self, migrations: Mapping[int, Migration]) -> None:
        stored = self._store.value(VERSION_KEY)
        version = int(stored) if stored is not None and str(stored).isdigit() else None
        if version is None:
            version = self._schema_version if not self._store.allKeys() else 1
        if version > self._schema_version:
            log.warning("The settings were written by a newer Quantpick (schema %d); unknown values are "
                        "ignored.", version)
            return
        while version < self._schema_version:
            step = migrations.get(version)
            if step is None:
                raise RuntimeError(f"no settings migration from schema version {version}")
            step(self._store)
            version += 1
            log.info("Settings upgraded to schema version %d.", version)
        self._store.setValue(VERSION_KEY, str(version))
