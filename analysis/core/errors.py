"""Exceptions that carry a message meant for the user.

The CLI prints them as one line and exits non-zero; the dashboard shows them
with ``st.error``. Anything else is a bug and is reported as such.
"""


class InputError(ValueError):
    """The user's input is wrong; the message says what and what to do."""


class DatasetExists(InputError):
    """A dataset with the requested name exists and no policy was chosen."""


class DatabaseUnavailable(RuntimeError):
    """FiftyOne's MongoDB cannot be started or reached."""
