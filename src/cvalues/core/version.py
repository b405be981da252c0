"""The version of cvalues (here, at the bottom layer, so that every layer can record it)."""

__version__ = "0.1.0"
