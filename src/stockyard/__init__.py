"""Stockyard: a conda channel platform."""

__version__ = "0.1.0"
