"""The gateway simulator's settings; every fault it can inject is an environment variable."""

from pydantic import Field

from shared.settings import ServiceSettings


class GatewaySimulatorSettings(ServiceSettings):
    # 0 binds an ephemeral port (tests).
    http_port: int = Field(8005, ge=0, validation_alias="GATEWAY_SIMULATOR_HTTP_PORT")
    # One JSON line per request received, appended and flushed before the answer goes out.
    record_path: str = Field(
        ".cache/gateway-simulator/received.jsonl", min_length=1, validation_alias="GATEWAY_SIMULATOR_RECORD"
    )
    # Also fsync each line (survives a machine crash, not only a killed simulator; slower).
    fsync: bool = Field(False, validation_alias="GATEWAY_SIMULATOR_FSYNC")
    # Share of requests answered 503 (try again), drawn per request: a flaky provider (0..100).
    fail_percent: float = Field(0.0, ge=0, le=100, validation_alias="GATEWAY_SIMULATOR_FAIL_PERCENT")
    # Share of messages refused for good (422), chosen by a hash of the idempotency key, so the
    # same message is refused on every attempt: a dead number or a bounced address (0..100).
    refuse_percent: float = Field(0.0, ge=0, le=100, validation_alias="GATEWAY_SIMULATOR_REFUSE_PERCENT")
    # A slow provider: this delay before answering, for a share of the requests drawn per request.
    delay_ms: int = Field(0, ge=0, le=600_000, validation_alias="GATEWAY_SIMULATOR_DELAY_MS")
    delay_percent: float = Field(100.0, ge=0, le=100, validation_alias="GATEWAY_SIMULATOR_DELAY_PERCENT")
    # Seeds the per-request draws, so a run's faults can be repeated.
    seed: int | None = Field(None, validation_alias="GATEWAY_SIMULATOR_SEED")

    # Twilio's Messages API (simulators/gateway/twilio.py): the account and token it accepts
    # (HTTP Basic) and signs its delivery receipts with.
    twilio_account_sid: str = Field(
        "AC00000000000000000000000000000000",
        min_length=1,
        validation_alias="GATEWAY_SIMULATOR_TWILIO_ACCOUNT_SID",
    )
    twilio_auth_token: str = Field(
        "muba-local-provider-token",
        min_length=1,
        validation_alias="GATEWAY_SIMULATOR_TWILIO_AUTH_TOKEN",
        repr=False,
    )
    # How long after accepting a message its receipts come, and the share of messages whose
    # receipt says `undelivered` (a phone off for days), chosen by a hash of the message's key.
    receipt_delay_ms: int = Field(
        200, ge=0, le=600_000, validation_alias="GATEWAY_SIMULATOR_RECEIPT_DELAY_MS"
    )
    undelivered_percent: float = Field(
        0.0, ge=0, le=100, validation_alias="GATEWAY_SIMULATOR_UNDELIVERED_PERCENT"
    )
