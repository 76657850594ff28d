"""Event payloads (the JSON bodies), one module per producing side. Every model is strict about
what it publishes and tolerant of fields it does not know (forward compatibility within a `.vN`)."""

from pydantic import BaseModel, ConfigDict


class EventModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
