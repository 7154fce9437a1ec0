"""The error every dataset reader raises for malformed content."""


class DataError(ValueError):
    """Malformed dataset content; the message names the file (and line or frame) at fault."""
