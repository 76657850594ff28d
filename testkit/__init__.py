"""Helpers for the tests, the demo, the chaos run and the benchmark: never part of what the
services ship (pyproject.toml installs services, shared, simulators and muba only; a test in
tests/unit/test_boundaries.py keeps the production packages from importing this one).

    testkit.infra    where the real servers are; an emptied schema; a topic prefix per test
    testkit.kafka    publish as a partner system does; record what a service publishes
    testkit.samples  realistic, valid registrations
"""
