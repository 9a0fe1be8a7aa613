"""Exception types raised by GAN Explorer.

Every failure a user can cause (a bad file, a bad image, bad settings) surfaces as an
``ExplorerError`` subclass with a message that says what was wrong and what to do, never
as a traceback from deep inside torch or PIL.
"""


class ExplorerError(Exception):
    """Base class for all errors GAN Explorer raises on purpose."""


class CheckpointError(ExplorerError):
    """A checkpoint file is missing, unreadable, unsafe, or of the wrong kind."""


class ImageInputError(ExplorerError):
    """An input image is corrupt, too large, animated, or otherwise unusable.

    ``reason``: one code a data-set cleaning report counts — "corrupt", "unsupported_format",
    "animated" or "too_large"; ``detail``: the message.
    """

    def __init__(self, message: str, reason: str = "corrupt"):
        super().__init__(message)
        self.reason = reason
        self.detail = message

    def __reduce__(self):  # keep ``reason`` across processes (data loading may run in workers)
        return type(self), (self.detail, self.reason)


class DataError(ExplorerError):
    """A data set cannot be found or read."""


class TrainingError(ExplorerError):
    """Training settings are invalid or training cannot continue."""
