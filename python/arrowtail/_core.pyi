"""Type stubs of the Rust extension module ``arrowtail._core``."""

import pyarrow as pa

__version__: str

def _raise_core_error(kind: str, message: str) -> None: ...
def mask_batch(
    batch: pa.RecordBatch,
    *,
    drop: list[str] = ...,
    redact: list[str] = ...,
    hash: list[str] = ...,
    key: bytes = ...,
) -> pa.RecordBatch: ...
