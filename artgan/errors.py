"""The exception types the core tells apart: bad input the user can fix, an input a plugin
cannot use (a skip), and a bug in a plugin."""


class ArtganError(Exception):
    """Bad input: a one-line reason naming the file, key or URL and what to do.

    The CLI prints it without a traceback and exits with status 2.
    """


class BadInput(Exception):
    """Raised by a preprocessor's ``process`` for one input it cannot use: the core reports that
    input as skipped, with the message as the reason (as if it had returned a Skipped)."""


class PluginError(Exception):
    """Any other exception a plugin raised while handling one item: a bug, which stops the work
    with a traceback naming the plugin and the item (never a skip). The cause is chained."""


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` says memory ran out: Python's MemoryError, or torch's for a GPU (CUDA's
    OutOfMemoryError, MPS's) or for the CPU's allocator; told by its words, without importing torch."""
    return isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and any(words in str(error) for words in ("out of memory", "can't allocate")))
