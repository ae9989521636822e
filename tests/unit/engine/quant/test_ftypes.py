"""File-type table and the llama-quantize style name parser."""

from __future__ import annotations

import pytest

from engine.errors import UsageError
from engine.formats.ggml_types import GGMLType
from engine.quant.ftypes import FILE_TYPES, FileType, file_type_from_number, parse_file_type

# quant-spec 1.7: name -> (llama_ftype, default tensor type), typed out independently of the module.
EXPECTED = {
    "F32": (0, "F32"), "F16": (1, "F16"), "Q4_0": (2, "Q4_0"), "Q4_1": (3, "Q4_1"), "Q8_0": (7, "Q8_0"),
    "Q5_0": (8, "Q5_0"), "Q5_1": (9, "Q5_1"), "Q2_K": (10, "Q2_K"), "Q3_K_S": (11, "Q3_K"),
    "Q3_K_M": (12, "Q3_K"), "Q3_K_L": (13, "Q3_K"), "Q4_K_S": (14, "Q4_K"), "Q4_K_M": (15, "Q4_K"),
    "Q5_K_S": (16, "Q5_K"), "Q5_K_M": (17, "Q5_K"), "Q6_K": (18, "Q6_K"), "IQ4_NL": (25, "IQ4_NL"),
    "IQ4_XS": (30, "IQ4_XS"), "BF16": (32, "BF16"),
}


def test_table_matches_spec() -> None:
    assert {ft.name: (ft.llama_ftype, ft.base.name) for ft in FILE_TYPES} == EXPECTED
    assert len({ft.llama_ftype for ft in FILE_TYPES}) == len(FILE_TYPES)


def test_descriptions_are_one_line() -> None:
    for ft in FILE_TYPES:
        assert ft.description and "\n" not in ft.description and len(ft.description) < 100


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_name_parses_in_any_case(name: str) -> None:
    for spelled in (name, name.lower(), name.title(), f"  {name}\n"):
        ft = parse_file_type(spelled)
        assert isinstance(ft, FileType) and ft.name == name and str(ft) == name


@pytest.mark.parametrize(("alias", "name"), [("Q3_K", "Q3_K_M"), ("q4_k", "Q4_K_M"), ("Q5_k", "Q5_K_M")])
def test_aliases(alias: str, name: str) -> None:
    assert parse_file_type(alias).name == name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_numeric_ids(name: str) -> None:
    number = EXPECTED[name][0]
    assert parse_file_type(str(number)).name == name
    assert parse_file_type(number).name == name
    assert file_type_from_number(number).name == name


def test_is_quantized() -> None:
    plain = {ft.name for ft in FILE_TYPES if not ft.is_quantized}
    assert plain == {"F32", "F16", "BF16"}
    assert parse_file_type("Q8_0").base is GGMLType.Q8_0


def test_unknown_name_suggests_close_match() -> None:
    with pytest.raises(UsageError) as info:
        parse_file_type("Q4_K_N")
    assert "Did you mean" in info.value.message and "Q4_K_M" in info.value.message
    assert "Q6_K" in info.value.hint and "IQ4_XS" in info.value.hint


def test_unknown_name_without_close_match_lists_valid_names() -> None:
    with pytest.raises(UsageError) as info:
        parse_file_type("banana")
    assert "Did you mean" not in info.value.message
    assert "Q4_K_M" in info.value.hint


@pytest.mark.parametrize("text", ["IQ2_XXS", "iq3_m", "Q2_K_S", "COPY", "19", "21"])
def test_llama_quantize_types_we_do_not_write(text: str) -> None:
    with pytest.raises(UsageError, match="does not write"):
        parse_file_type(text)


@pytest.mark.parametrize("text", ["15x", "999", "-1", "", "Q4_K_M_"])
def test_rejects_garbage(text: str) -> None:
    with pytest.raises(UsageError):
        parse_file_type(text)
