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
    """An input image is corrupt, too large, animated, or otherwise unusable."""


class DataError(ExplorerError):
    """A data set cannot be found or read."""


class TrainingError(ExplorerError):
    """Training settings are invalid or training cannot continue."""
