"""The office's dashboard and each company's own view: a read-side web service over the other
services' HTTP APIs (no database, no Kafka)."""
