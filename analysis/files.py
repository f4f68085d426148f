"""Writing analysis results into run and sweep folders without ever leaving a half-written file.

analysis/ never imports simulation/, so it has its own atomic writer. It follows the same convention
as the run machinery: write to ``.<name>.tmp-<pid>`` beside the target, then rename it into place
(the sweep store removes such temporary files left by an interrupted writer).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write`` on a temporary path beside ``path``, then rename the result to ``path``."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet_and_csv(folder: Path, stem: str, table: pd.DataFrame) -> None:
    """Save ``table`` as ``folder/<stem>.parquet`` and ``folder/<stem>.csv`` (no index), each atomically."""
    write_atomic(folder / f"{stem}.parquet", lambda p: table.to_parquet(p, index=False))
    write_atomic(folder / f"{stem}.csv", lambda p: table.to_csv(p, index=False))
