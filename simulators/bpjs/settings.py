"""The simulator's settings: the shared ones plus its rules. Every rule is an environment variable."""

from pydantic import Field

from shared.settings import ServiceSettings


class SimulatorSettings(ServiceSettings):
    # 0 binds an ephemeral port (tests); a negative port runs no HTTP endpoint at all.
    http_port: int = Field(8004, validation_alias="BPJS_SIMULATOR_HTTP_PORT")
    # Simulated processing time: an answer leaves no earlier than this after its request was written.
    delay_ms: int = Field(0, ge=0, le=600_000, validation_alias="SIMULATOR_DELAY_MS")
    # Share of otherwise valid requests rejected, chosen by a hash of the enrollment id (0..100).
    reject_percent: float = Field(0.0, ge=0, le=100, validation_alias="SIMULATOR_REJECT_PERCENT")
    reject_reason_code: str = Field(
        "DATA_MISMATCH", min_length=1, validation_alias="SIMULATOR_REJECT_REASON_CODE"
    )
    # NIK serials (the last 4 digits) that stand for "not in Dukcapil" and "already a member".
    nik_not_found_serial: str = Field(
        "9999", pattern=r"^\d{4}$", validation_alias="SIMULATOR_NIK_NOT_FOUND_SERIAL"
    )
    already_member_serial: str = Field(
        "9998", pattern=r"^\d{4}$", validation_alias="SIMULATOR_ALREADY_MEMBER_SERIAL"
    )
    # The KPJ number is reported as 11 digits (uncertain); the contract allows 8 to 16.
    kpj_digits: int = Field(11, ge=8, le=16, validation_alias="SIMULATOR_KPJ_DIGITS")
    group_id: str = Field("bpjs-simulator", validation_alias="SIMULATOR_GROUP_ID")
