"""Small JSON files of a model folder (tokenizer and config files), read with clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.errors import CorruptInputError

MAX_JSON_BYTES = 512 << 20


def read_json(path: Path) -> Any:
    """The parsed file, or None when it does not exist.

    Raises:
        CorruptInputError: the file is not valid UTF-8 JSON, or is absurdly large.
    """
    if not path.is_file():
        return None
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise CorruptInputError(f"{path.name} is {size:,} bytes, far larger than such a file ever is.")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CorruptInputError(f"{path.name} in {path.parent} is not valid JSON ({e}).") from e
