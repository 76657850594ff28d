"""The national table of Kemendagri area codes (shared/wilayah.py, shared/data/wilayah/) and the
script that regenerates it (deploy/wilayah_codes.py), on tarballs made here (no download)."""

import io
import tarfile
from pathlib import Path

import pytest

from deploy import wilayah_codes
from shared import wilayah
from shared.kecamatan import KECAMATAN, REGENCY_CODE
from shared.wilayah import area_codes, nik_area_known


def test_the_table_is_national_and_read_once() -> None:
    table = area_codes()
    assert area_codes() is table  # built once
    assert len(table.regencies) >= 514 and len(table.kecamatan) >= 7_285
    assert {code[:2] for code in table.regencies} >= {"11", "16", "31", "64", "92", "96"}
    assert all(len(code) == 4 and code.isdigit() for code in table.regencies)
    assert all(len(code) == 6 and code.isdigit() for code in table.kecamatan)


def test_every_muba_kecamatan_is_in_the_table_and_no_other() -> None:
    muba = {code[4:] for code in area_codes().kecamatan if code.startswith(REGENCY_CODE)}
    assert muba == set(KECAMATAN)


def test_retired_codes_are_in_the_table() -> None:
    table = area_codes()
    # Papua Barat's Sorong before UU 29/2022 renumbered it into Papua Barat Daya (96.01).
    assert {"9201", "920101", "9271"} <= table.regencies | table.kecamatan
    # Merauke before UU 14/2022 (93.01): a regency whose old kecamatan codes we do not hold.
    assert "9101" in table.regencies_without_kecamatan
    assert len(table.regencies_without_kecamatan) == 20
    assert not table.regencies_without_kecamatan & {"9103", "9105", "9171"}  # still in force


@pytest.mark.parametrize(
    ("nik", "known"),
    [
        ("1606015208900003", True),  # Sekayu
        ("3171015208900003", True),  # Gambir, Jakarta Pusat
        ("9201015208900003", True),  # retired
        ("9101775208900003", True),  # retired regency, any kecamatan digits
        ("1699995208900003", False),
        ("1606165208900003", False),
        ("9103995208900003", False),  # Jayapura is in force: its kecamatan are checked
    ],
)
def test_nik_area_known(nik: str, known: bool) -> None:
    assert nik_area_known(nik) is known


def test_every_data_file_names_its_source_and_licence() -> None:
    for name in wilayah.FILES:
        text = (wilayah.DATA / name).read_text()
        assert text.startswith("#")
    for name in ("current.txt", "retired.txt"):
        header = (wilayah.DATA / name).read_text()
        assert "idn-area-data" in header and "Open Database License" in header
    assert f"idn-area-data {wilayah_codes.CURRENT}" in (wilayah.DATA / "current.txt").read_text()


def _tarball(path: Path, regencies: list[str], districts: list[str]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member, header, codes in (
            ("regencies.csv", "code,province_code,name", regencies),
            ("districts.csv", "code,regency_code,name", districts),
        ):
            data = "\n".join([header, *(f"{code},{code[:2]},Nama" for code in codes)]).encode()
            info = tarfile.TarInfo(f"package/data/{member}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_the_script_keeps_codes_only_and_finds_the_retired_ones(tmp_path: Path) -> None:
    current = _tarball(tmp_path / "new.tgz", ["16.06", "96.01"], ["16.06.01", "96.01.02"])
    previous = _tarball(tmp_path / "old.tgz", ["1606", "9201"], ["160601", "920104"])
    files = wilayah_codes.render(current, previous)
    body = {
        name: [line for line in text.splitlines() if not line.startswith("#")] for name, text in files.items()
    }
    assert body == {"current.txt": ["1606", "160601", "9601", "960102"], "retired.txt": ["9201", "920104"]}
    assert "Nama" not in files["current.txt"]


def test_the_script_refuses_a_code_of_the_wrong_shape(tmp_path: Path) -> None:
    bad = _tarball(tmp_path / "bad.tgz", ["16.6"], [])
    with pytest.raises(SystemExit):
        wilayah_codes.area_codes(bad)


def test_the_loader_refuses_a_malformed_line(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("# header\n1606  # ok\n16060\n")
    with pytest.raises(ValueError, match="16060"):
        wilayah._codes(tmp_path / "x.txt")
