"""Write the Windows version resource (PyInstaller's VSVersionInfo text) from engine/version.py.

Explorer shows these fields under Properties > Details; the numbers come from the one version string,
so a release changes engine/version.py and nothing here.
"""

from __future__ import annotations

import re

FIELDS = {
    "CompanyName": "Quantpick",
    "FileDescription": "Quantpick: quantize models into GGUF files",
    "InternalName": "quantpick",
    "LegalCopyright": "Quantpick contributors, MIT license",
    "ProductName": "Quantpick",
}


def version_tuple(version: str) -> tuple[int, int, int, int]:
    """``"1.2.3"`` -> (1, 2, 3, 0); pre-release and local suffixes (``rc1``, ``.dev2``, ``+g1234``) are dropped."""
    release = re.match(r"\d+(?:\.\d+)*", version)
    if release is None:
        raise ValueError(f"version {version!r} does not start with a release number like 1.2.3")
    numbers = [int(part) for part in release.group(0).split(".")][:4]
    return (*numbers, *[0] * (4 - len(numbers)))  # type: ignore[return-value]


def version_info_text(version: str, *, exe_name: str) -> str:
    """The version resource for ``exe_name`` (for example ``Quantpick.exe``) at ``version``."""
    numbers = version_tuple(version)
    strings = {**FIELDS, "FileVersion": version, "ProductVersion": version, "OriginalFilename": exe_name}
    table = ",\n".join(f"          StringStruct({key!r}, {value!r})" for key, value in strings.items())
    return f"""VSVersionInfo(
  ffi=FixedFileInfo(
    filevers={numbers},
    prodvers={numbers},
    mask=0x3f,
    flags=0x0,
    OS=0x40004,
    fileType=0x1,
    subtype=0x0,
    date=(0, 0)
  ),
  kids=[
    StringFileInfo([
      StringTable(
        '040904B0',
        [
{table}
        ])
    ]),
    VarFileInfo([VarStruct('Translation', [1033, 1200])])
  ]
)
"""
