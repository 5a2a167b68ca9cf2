"""The domain model: readings, the snapshot and View, gap rules' vocabulary, severities.

Everything else imports from here; this package imports nothing of the project outside itself.
"""
