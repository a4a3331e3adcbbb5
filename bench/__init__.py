"""prsaga's benchmark: orchestration overhead against bare Temporal, a webhook burst, and
reviews of pull requests up to 3,000 files, all on one machine (``python -m bench``).

Everything runs locally: the embedded Temporal dev server, the local GitHub server and
"instant" agents that return canned findings at once, so that what is measured is prsaga.
"""
