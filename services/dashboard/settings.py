"""The dashboard's settings: where the services' APIs are, who may log in, how often pages poll.

The dashboard has no database and no Kafka: it reads the services' HTTP APIs with the caller's
own token, as the CLI does, and knows the tokens (MUBA_OPERATOR_TOKEN[_FILE], MUBA_API_TOKENS_FILE,
the same settings as every service) only to tell at login which view a token opens."""

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    # A blank variable counts as unset (compose passes DASHBOARD_COOKIE_SECURE= for "automatic").
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, env_ignore_empty=True)

    http_host: str = Field("127.0.0.1", validation_alias="HTTP_HOST")
    http_port: int = Field(8007, ge=1, le=65535, validation_alias="DASHBOARD_PORT")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    # How often (seconds) an open page asks /data for fresh figures.
    poll_s: float = Field(5.0, ge=0.5, le=300, validation_alias="DASHBOARD_POLL_S")
    # The services' APIs (the same variables as the CLI's).
    registry_url: str = Field("http://127.0.0.1:8001", validation_alias="REGISTRY_URL")
    sponsorship_url: str = Field("http://127.0.0.1:8002", validation_alias="SPONSORSHIP_URL")
    notifications_url: str = Field("http://127.0.0.1:8003", validation_alias="NOTIFICATIONS_URL")
    http_timeout_s: float = Field(10.0, gt=0, validation_alias="DASHBOARD_HTTP_TIMEOUT_S")
    # The tokens (shared/http_access.py), read as every service reads them.
    operator_token: str | None = Field(None, validation_alias="MUBA_OPERATOR_TOKEN", repr=False)
    operator_token_file: str | None = Field(None, validation_alias="MUBA_OPERATOR_TOKEN_FILE")
    api_tokens_file: str | None = Field(None, validation_alias="MUBA_API_TOKENS_FILE")
    # A login lasts this long (seconds) after the last request, at most `session_max_s` in all.
    session_idle_s: float = Field(3600.0, gt=0, validation_alias="DASHBOARD_SESSION_IDLE_S")
    session_max_s: float = Field(12 * 3600.0, gt=0, validation_alias="DASHBOARD_SESSION_MAX_S")
    # The session cookie's Secure flag; unset: Secure unless the dashboard listens on loopback
    # only (a browser sends a Secure cookie over HTTPS alone: put TLS in front when it does not).
    cookie_secure: bool | None = Field(None, validation_alias="DASHBOARD_COOKIE_SECURE")
    # Failed logins: each answered after this delay (seconds); more than `login_max_failures`
    # from one address within `login_window_s` are refused (429) until the window has passed.
    login_failure_delay_s: float = Field(1.0, ge=0, le=30, validation_alias="DASHBOARD_LOGIN_FAILURE_DELAY_S")
    login_max_failures: int = Field(5, ge=1, validation_alias="DASHBOARD_LOGIN_MAX_FAILURES")
    login_window_s: float = Field(600.0, gt=0, validation_alias="DASHBOARD_LOGIN_WINDOW_S")
    # A commitment's renewal is due when its coverage ends within this many days.
    renewal_notice_days: int = Field(60, ge=1, le=366, validation_alias="DASHBOARD_RENEWAL_NOTICE_DAYS")

    @field_validator("registry_url", "sponsorship_url", "notifications_url")
    @classmethod
    def _trimmed(cls, value: str) -> str:
        return value.strip().rstrip("/")
