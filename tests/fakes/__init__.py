"""In-memory stand-ins for unit tests of one piece (never imported by production code)."""
