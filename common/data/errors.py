"""Errors shared by the dataset loaders."""


class DataUnavailable(RuntimeError):
    """A real dataset could not be found or fetched; the message says what to put where."""
