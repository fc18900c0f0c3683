"""Type stubs of the Rust extension module ``arrowtail._core``."""

__version__: str

def _raise_core_error(kind: str, message: str) -> None: ...
