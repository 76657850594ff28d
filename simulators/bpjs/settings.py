"""The simulator's settings: the shared ones plus its rules. Every rule is an environment variable."""

from datetime import timedelta
from typing import Self

from pydantic import AliasChoices, Field, model_validator

from shared import access
from shared.settings import ServiceSettings
from simulators.bpjs.domain import Rules


class SimulatorSettings(ServiceSettings):
    # BPJS_DATABASE_URL, or its parts BPJS_DB_HOST/_PORT/_NAME/_USER/_PASSWORD(_FILE): the schema
    # `bpjs` holds the simulator's inbox and outbox (shared/migrations), nothing else.
    database_env_prefix = "BPJS"
    database_url: str = Field(
        "postgresql://bpjs:bpjs@127.0.0.1:5432/muba", validation_alias="BPJS_DATABASE_URL"
    )
    # The process is `bpjs-simulator` in the topic catalogue; its Kafka principal is `bpjs`.
    kafka_username: str | None = Field(access.BPJS, validation_alias="KAFKA_USERNAME")
    # 0 binds an ephemeral port (tests).
    http_port: int = Field(8004, ge=0, validation_alias="BPJS_SIMULATOR_HTTP_PORT")
    # Simulated processing time: an answer leaves no earlier than this after its request was
    # written. The batch's transaction stays open meanwhile, so it is bounded well below the
    # roles' idle_in_transaction_session_timeout (60 s, deploy/sql/init.sql).
    delay_ms: int = Field(0, ge=0, le=30_000, validation_alias="SIMULATOR_DELAY_MS")
    # Share of otherwise valid requests rejected, chosen by a hash of the enrollment id (0..100).
    reject_percent: float = Field(0.0, ge=0, le=100, validation_alias="SIMULATOR_REJECT_PERCENT")
    reject_reason_code: str = Field(
        "DATA_MISMATCH", min_length=1, validation_alias="SIMULATOR_REJECT_REASON_CODE"
    )
    # Share of requests carrying a NIK birth-date or sex warning that Dukcapil's record does not
    # bear out (rejected DATA_MISMATCH), chosen by a hash of the NIK (0..100).
    warning_mismatch_percent: float = Field(
        50.0, ge=0, le=100, validation_alias="SIMULATOR_WARNING_MISMATCH_PERCENT"
    )
    # NIK serials (the last 4 digits) that stand for "not in Dukcapil", "an active member" and "a
    # lapsed member" (domain.py). SIMULATOR_ALREADY_MEMBER_SERIAL is the active one's old name.
    nik_not_found_serial: str = Field(
        "9999", pattern=r"^\d{4}$", validation_alias="SIMULATOR_NIK_NOT_FOUND_SERIAL"
    )
    active_member_serial: str = Field(
        "9998",
        pattern=r"^\d{4}$",
        validation_alias=AliasChoices("SIMULATOR_ACTIVE_MEMBER_SERIAL", "SIMULATOR_ALREADY_MEMBER_SERIAL"),
    )
    lapsed_member_serial: str = Field(
        "9997", pattern=r"^\d{4}$", validation_alias="SIMULATOR_LAPSED_MEMBER_SERIAL"
    )
    # The KPJ number is reported as 11 digits (uncertain); the contract allows 8 to 16.
    kpj_digits: int = Field(11, ge=8, le=16, validation_alias="SIMULATOR_KPJ_DIGITS")
    # Contributions (domain.confirm_contribution): the share of paid months whose first sending is
    # never answered, chosen by a hash of payment, enrollment and month (0..100), and the simulated
    # time to a confirmation (bounded as delay_ms is: the batch's transaction stays open).
    contribution_lose_percent: float = Field(
        0.0, ge=0, le=100, validation_alias="SIMULATOR_CONTRIBUTION_LOSE_PERCENT"
    )
    contribution_delay_ms: int = Field(0, ge=0, le=30_000, validation_alias="SIMULATOR_CONTRIBUTION_DELAY_MS")
    # The consumer group (after TOPIC_PREFIX), kept from before the shared runtime: its offsets stay.
    group_id: str = Field("bpjs-simulator", validation_alias="SIMULATOR_GROUP_ID")

    @model_validator(mode="after")
    def _serials_differ(self) -> Self:
        self.rules()  # ValueError when two serials are the same
        return self

    def rules(self) -> Rules:
        return Rules(
            nik_not_found_serial=self.nik_not_found_serial,
            active_member_serial=self.active_member_serial,
            lapsed_member_serial=self.lapsed_member_serial,
            reject_percent=self.reject_percent,
            warning_mismatch_percent=self.warning_mismatch_percent,
            reject_reason_code=self.reject_reason_code,
            kpj_digits=self.kpj_digits,
            processing_time=timedelta(milliseconds=self.delay_ms),
            contribution_lose_percent=self.contribution_lose_percent,
            contribution_delay=timedelta(milliseconds=self.contribution_delay_ms),
        )
