"""The one exception type for bad input: the CLI turns it into a single line and exit code 2."""


class R2RouteError(Exception):
    """A problem with the user's input (a path, a value, a file), not a bug in r2route.

    The message is a complete, one-line sentence meant to be shown as-is.
    """
