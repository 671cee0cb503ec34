"""The states of a file, from the backend's side."""

from enum import StrEnum


class FileState(StrEnum):
    """offered -> uploaded -> verified | rejected; failed when the unit gave up. Only verified files are served."""

    OFFERED = "offered"
    UPLOADED = "uploaded"
    VERIFIED = "verified"
    REJECTED = "rejected"
    FAILED = "failed"
