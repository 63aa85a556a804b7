"""Replaying recorded files (GPX, CSV, kloppy tracking data) through the ingest path: see command.py."""
