"""What the benchmark reads from the environment, in one place (the stack's processes read their
own settings; LOG_LEVEL and CONSUMER_BATCH_SIZE are recorded here as the run's parameters)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from deploy.stack import ROOT


class BenchSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    # Where deploy/local put Kafka's jars: the broker's version is read from their names.
    kafka_libs: Path = Field(ROOT / ".cache" / "kafka" / "libs", validation_alias="MUBA_KAFKA_LIBS")
    # The services inherit both; their defaults are shared.settings.ServiceSettings'.
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    consumer_batch_size: int = Field(200, validation_alias="CONSUMER_BATCH_SIZE")
