"""The cold tier: closed days of the time series as Parquet files in the blob store (docs/archive.md)."""
