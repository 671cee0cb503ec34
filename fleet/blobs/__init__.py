"""Object storage for file payloads and the archive: one interface (`store.BlobStore`), two implementations.

`s3.S3BlobStore` (boto3) and `local.LocalBlobStore` (a folder, signed URLs to the API); `factory.make_blob_store`
picks one from the settings; `keys` builds every object key. Import the submodules: this package imports
nothing, so a process that only builds keys never loads boto3. See docs/storage.md.
"""
