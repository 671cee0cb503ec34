"""The blob store the settings name: S3 when FLEET_S3_BUCKET is set, else the local folder."""

import os
import secrets
import tempfile
from pathlib import Path

from fleet.blobs.local import DEFAULT_BASE_URL, LocalBlobStore
from fleet.blobs.store import BlobStore
from fleet.errors import Invalid
from fleet.settings import BlobSettings, SharedSettings

# Under FLEET_DATA_DIR: the development signing key, generated on first use.
SIGNING_KEY_FILE = "blob-signing.key"
LOCAL_STORE_DIR = "blobs"


def make_blob_store(
    shared: SharedSettings, settings: BlobSettings | None = None, local_base_url: str = DEFAULT_BASE_URL
) -> BlobStore:
    """S3 (FLEET_S3_*) or, without a bucket, the local store under FLEET_DATA_DIR/blobs.

    `local_base_url` is where the API serves the local store's signed URLs (its path, or the public URL in front
    of it when units must reach it from outside).
    """
    settings = BlobSettings() if settings is None else settings
    if settings.uses_s3:
        # Here, not at the top: a process on the local store never loads boto3.
        from fleet.blobs.s3 import S3BlobStore

        return S3BlobStore.from_settings(settings)
    return LocalBlobStore(shared.data_dir / LOCAL_STORE_DIR, local_signing_key(shared, settings), local_base_url)


def local_signing_key(shared: SharedSettings, settings: BlobSettings) -> bytes:
    """FLEET_BLOB_SIGNING_KEY; in development without one, the key kept in FLEET_DATA_DIR (made once)."""
    key = settings.blob_signing_key.get_secret_value()
    if key:
        return key.encode()
    if shared.environment == "production":
        raise Invalid(
            "FLEET_BLOB_SIGNING_KEY must be set in production when FLEET_S3_BUCKET is empty: the local blob store "
            "signs its upload and download URLs with it (openssl rand -hex 32)"
        )
    return development_signing_key(shared.data_dir)


def development_signing_key(data_dir: Path) -> bytes:
    """The key in `data_dir/blob-signing.key`, generated (mode 0600) when missing; safe between processes."""
    path = data_dir / SIGNING_KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=data_dir, prefix=".blob-signing-")
        try:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_hex(32) + "\n")
                out.flush()
                os.fsync(out.fileno())
            # link() creates the name only if it does not exist: of two processes, one key wins, whole.
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    key = path.read_text(encoding="utf-8").strip()
    if len(key) < 32:
        raise Invalid(f"{path} holds no usable signing key; delete it to have a new one generated")
    return key.encode()
