"""Logs never carry a NIK or a mobile number in the clear, however it was typed."""

import json
import logging

import pytest

from shared.logging import JsonFormatter
from shared.masking import mask_nik, mask_phone, mask_text


@pytest.mark.parametrize(
    "text",
    [
        "nik 1606015208900003",
        "nik 1606.0152.0890.0003",
        "nik 1606 0152 0890 0003",
        "nik 1606-0152-0890-0003",
        '{"nik": "1606015208900003"}',
    ],
)
def test_every_way_of_writing_a_nik_is_masked(text: str) -> None:
    masked = mask_text(text)
    assert "0890" not in masked and "160601" in masked and masked.endswith(("03", '03"}'))


@pytest.mark.parametrize(
    "text",
    ["hp +6281234567890", "hp 6281234567890", "hp 081234567890", "hp 0812-3456-7890", "hp 62 812 3456 7890"],
)
def test_every_way_of_writing_a_mobile_number_is_masked(text: str) -> None:
    masked = mask_text(text)
    assert "3456" not in masked and "****7890" in masked


@pytest.mark.parametrize(
    "text",
    [
        "at 2026-11-28T07:00:00.123456+00:00",
        "event 1e638ca2-140d-4cc0-9a3d-39fb050ff198",
        "offset 176431234",
        "already 160601********03",
    ],
)
def test_what_is_not_personal_data_stays_readable(text: str) -> None:
    assert mask_text(text) == text


def test_masks_of_known_fields() -> None:
    assert mask_nik("1606015208900003") == "160601********03"
    assert mask_phone("+6281234567890") == "+62812****7890"


def test_json_lines_mask_the_message_and_every_extra_field() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "worker %s", ("1606015208900003",), None)
    record.phone = "081234567890"
    record.event_id = "e-1"
    line = JsonFormatter("registry").format(record)
    entry = json.loads(line)
    assert entry["service"] == "registry" and entry["level"] == "warning" and entry["event_id"] == "e-1"
    assert "1606015208900003" not in line and "081234567890" not in line
    assert entry["message"] == "worker 160601********03"
