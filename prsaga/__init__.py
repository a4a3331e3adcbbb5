"""prsaga: durable, event-driven pull-request review agents on Temporal.

The package is laid out by import direction; each layer imports only the ones above it, and
``tests/unit/test_layers.py`` enforces it (import-linter contracts in pyproject.toml):

- ``prsaga.schema``: what lands in workflow history or crosses a process (pydantic models,
  search attributes, metric names). Imports nothing else of prsaga.
- ``prsaga.review``: pure decisions (diff parsing, chunking, routing, grounding, lifecycle,
  commands, ranking and rendering findings, repository config, redaction). Imports the schema.
- ``workflows`` (top level) decide with those two and nothing else.
- ``prsaga.adapters`` (GitHub, Claude, the offline tools, the diff store) and ``prsaga.runtime``
  (settings, logs, telemetry, the Temporal client) do the I/O, for ``activities``, ``worker``
  and ``starter``.
- ``prsaga.local`` stands apart: the local GitHub and Messages API servers, the demo pull
  request and the embedded dev stack, for the tests, the bench and ``prsaga demo``/``dev``.
"""
