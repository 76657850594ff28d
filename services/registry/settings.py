from collections.abc import Mapping
from pathlib import Path
from typing import Final

from pydantic import Field

from services.registry.domain.funders import NikKey
from shared.http_access import AccessConfigError
from shared.kafka_security import secrets_dir
from shared.settings import ServiceSettings, read_key_file

KEY_FILE: Final = Path("registry") / "nik-key"


class NikKeyError(AccessConfigError):
    """The NIK key is missing or unusable: the registry must not start (it could not check lists).
    A secret like the tokens: `python -m services.registry` then exits 1 saying why (shared/runner.py)."""


def key_path(nik_key_file: str | None, environ: Mapping[str, str] | None = None) -> tuple[Path, str]:
    """Where the key is read from, and the setting that says so."""
    if nik_key_file:
        return Path(nik_key_file), "REGISTRY_NIK_KEY_FILE"
    return secrets_dir(environ) / KEY_FILE, "MUBA_SECRETS_DIR/registry/nik-key"


def load_nik_key(nik_key_file: str | None) -> NikKey:
    path, setting = key_path(nik_key_file)
    secret = read_key_file(path, setting, NikKeyError, "the funder lists are hashed with it")
    try:
        return NikKey(secret)
    except ValueError as exc:
        raise NikKeyError(f"{setting}: {exc}") from None


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
    # The secret the funder lists' NIKs are hashed with (services/registry/domain/funders.py, NikKey); empty:
    # $MUBA_SECRETS_DIR/registry/nik-key, which `make infra-up` and deploy/compose/secrets.sh make.
    nik_key_file: str | None = Field(None, validation_alias="REGISTRY_NIK_KEY_FILE")

    def nik_key(self) -> NikKey:
        return load_nik_key(self.nik_key_file)
