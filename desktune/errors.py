"""User-facing errors: a message saying what is wrong and where, and a hint saying how to fix it."""


class DesktuneError(Exception):
    """A mistake in the user's input. The CLI prints it as 'error:/hint:' and exits 2."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(DesktuneError):
    pass


class DataError(DesktuneError):
    pass


class ModelError(DesktuneError):
    pass


class RunError(DesktuneError):
    pass


class HubError(DesktuneError):
    """The Hugging Face Hub refused or could not be reached (desktune push)."""
