"""The platform recipes agree with each other: file types, names, icons, version numbers."""

from __future__ import annotations

import ast
import configparser
import re
import xml.etree.ElementTree as ET

import pytest

from engine.version import __version__
from tests.packaging.conftest import PACKAGING, ROOT, load_script

MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
EXTENSIONS = {"gguf", "safetensors"}


def _desktop() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(PACKAGING / "linux" / "quantpick.desktop", encoding="utf-8")
    return parser["Desktop Entry"]


def _mime_globs() -> dict[str, set[str]]:
    root = ET.parse(PACKAGING / "linux" / "quantpick-mime.xml").getroot()
    return {
        node.get("type", ""): {glob.get("pattern", "") for glob in node.iter(f"{MIME_NS}glob")}
        for node in root.iter(f"{MIME_NS}mime-type")
    }


def test_desktop_entry_opens_files_of_the_declared_mime_types() -> None:
    entry = _desktop()
    assert entry["Type"] == "Application" and entry["Terminal"] == "false"
    assert entry["Exec"].split()[0] == "quantpick" and entry["Exec"].split()[1] in ("%F", "%f")
    assert entry["Icon"] == "quantpick"
    assert set(filter(None, entry["MimeType"].split(";"))) == set(_mime_globs())


def test_mime_types_claim_exactly_gguf_and_safetensors() -> None:
    globs = set().union(*_mime_globs().values())
    assert globs == {f"*.{ext}" for ext in EXTENSIONS}
    root = ET.parse(PACKAGING / "linux" / "quantpick-mime.xml").getroot()
    magic = [m.get("value") for m in root.iter(f"{MIME_NS}match")]
    assert magic == ["GGUF"]  # the GGUF file magic, so a renamed model is still recognised


def test_inno_setup_associates_gguf_and_runs_the_bundled_exe() -> None:
    iss = (PACKAGING / "windows" / "quantpick.iss").read_text(encoding="utf-8")
    spec = (PACKAGING / "quantpick.spec").read_text(encoding="utf-8")
    app_exe = re.search(r'#define AppExe "([^"]+)"', iss).group(1)  # type: ignore[union-attr]
    windows_name = re.search(r'EXE_NAME = "([^"]+)" if \(IS_WINDOWS', spec).group(1)  # type: ignore[union-attr]
    assert app_exe == f"{windows_name}.exe"
    for ext in EXTENSIONS:
        assert f'Subkey: "Software\\Classes\\.{ext}\\OpenWithProgids"' in iss
        assert f'Subkey: "Software\\Classes\\Quantpick.{ext}\\shell\\open\\command"' in iss
    assert re.search(r"^AppId=\{\{[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}\}$", iss, re.MULTILINE)
    code = "\n".join(line for line in iss.splitlines() if not line.startswith(";"))
    assert "AppVersion={#AppVersion}" in code and __version__ not in code  # passed in by CI, never written here


def test_macos_bundle_declares_the_same_extensions() -> None:
    spec = (PACKAGING / "quantpick.spec").read_text(encoding="utf-8")
    declared = set(re.findall(r'\("[^"]+", "[a-z.]+", "([a-z]+)"\)', spec))
    assert declared == EXTENSIONS
    assert '"CFBundleShortVersionString": __version__' in spec


@pytest.mark.parametrize(("version", "numbers"), [
    ("0.1.0", (0, 1, 0, 0)), ("1.2.3rc1", (1, 2, 3, 0)), ("2.0.dev4", (2, 0, 0, 0)), ("1.2.3.4.5", (1, 2, 3, 4)),
    ("3+local", (3, 0, 0, 0)),
])
def test_windows_version_numbers(version: str, numbers: tuple[int, ...]) -> None:
    assert load_script("windows/version_info.py").version_tuple(version) == numbers


def test_windows_version_resource_is_pyinstallers_expression() -> None:
    module = load_script("windows/version_info.py")
    with pytest.raises(ValueError, match="release number"):
        module.version_tuple("dev")
    text = module.version_info_text(__version__, exe_name="Quantpick.exe")
    tree = ast.parse(text, mode="eval")
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert calls == {"VSVersionInfo", "FixedFileInfo", "StringFileInfo", "StringTable", "StringStruct",
                     "VarFileInfo", "VarStruct"}
    strings = {n.args[0].value: n.args[1].value for n in ast.walk(tree)
               if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "StringStruct"}
    assert strings["ProductVersion"] == __version__ and strings["OriginalFilename"] == "Quantpick.exe"


def test_entry_script_and_console_script_share_the_launcher() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'quantpick = "app.launcher:main"' in pyproject
    assert "from app.launcher import main" in (PACKAGING / "entry.py").read_text(encoding="utf-8")


def test_ci_workflow_tests_the_executables_the_spec_builds() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "build.yml").read_text(encoding="utf-8"))
    exes = {entry["os"].split("-")[0]: entry["exe"] for entry in workflow["jobs"]["bundle"]["strategy"]["matrix"]["include"]}
    assert exes == {
        "ubuntu": "dist/quantpick/quantpick",
        "windows": "dist/quantpick/quantpick-cli.exe",
        "macos": "dist/Quantpick.app/Contents/MacOS/Quantpick",
    }
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"QUANTPICK_BUNDLE={exes['ubuntu']}" in makefile
    spec = (PACKAGING / "quantpick.spec").read_text(encoding="utf-8")
    assert 'name="quantpick-cli", console=True' in spec and 'name=f"{APP_NAME}.app"' in spec
