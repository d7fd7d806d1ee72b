"""The one exception type that means "the user can fix this"."""


class ArtganError(Exception):
    """Bad input: a one-line reason naming the file, key or URL and what to do.

    The CLI prints it without a traceback and exits with status 2.
    """
