from pydantic import Field

from shared.settings import ServiceSettings


class SponsorshipSettings(ServiceSettings):
    # SPONSORSHIP_DATABASE_URL, or its parts SPONSORSHIP_DB_HOST/_PORT/_NAME/_USER/_PASSWORD(_FILE).
    database_env_prefix = "SPONSORSHIP"
    database_url: str = Field(
        "postgresql://sponsorship:sponsorship@127.0.0.1:5432/muba",
        validation_alias="SPONSORSHIP_DATABASE_URL",
    )
    http_port: int = Field(8002, validation_alias="SPONSORSHIP_HTTP_PORT")
    # Whether the PP 50/2025 discount applies to company-paid (CSR) members is not settled.
    apply_discount_to_company_paid: bool = Field(False, validation_alias="SPONSORSHIP_APPLY_DISCOUNT")
