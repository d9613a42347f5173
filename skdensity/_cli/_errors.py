"""The one exception the command-line tool reports without a traceback."""


class InputError(ValueError):
    """A problem with the user's input or options: exit status 2, a message."""
