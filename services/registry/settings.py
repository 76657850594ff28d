from pydantic import Field

from shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    # REGISTRY_DATABASE_URL, or its parts REGISTRY_DB_HOST/_PORT/_NAME/_USER/_PASSWORD(_FILE).
    database_env_prefix = "REGISTRY"
    database_url: str = Field(
        "postgresql://registry:registry@127.0.0.1:5432/muba", validation_alias="REGISTRY_DATABASE_URL"
    )
    http_port: int = Field(8001, validation_alias="REGISTRY_HTTP_PORT")
    min_age: int = Field(15, validation_alias="REGISTRY_MIN_AGE")
    # The registration age limit is not settled in public sources (15-60 is often cited).
    max_age: int = Field(60, validation_alias="REGISTRY_MAX_AGE")
    # The secret the funder lists' NIKs are hashed with (services/registry/funders.py); empty:
    # $MUBA_SECRETS_DIR/registry/nik-key, which `make infra-up` and deploy/compose/secrets.sh make.
    nik_key_file: str | None = Field(None, validation_alias="REGISTRY_NIK_KEY_FILE")
