"""The offline reviewer's tools, one module each; ``runner`` holds what they share.

Each module's ``TOOL`` says which files the tool reads and runs it; the orchestration is
``prsaga.adapters.offline``, the pure grading and filtering ``prsaga.review.offline_policy``.
"""
