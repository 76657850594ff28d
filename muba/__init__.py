"""Operator CLI."""
