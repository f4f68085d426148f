"""Writing a run's two large tables while it runs: relationships.parquet and decisions.parquet.

A run that writes a run folder (:func:`simulation.api.run_to_folder`) hands the closed relationship
spells and the settled decision rows to a :class:`ParquetStream` after every week, so memory holds one
row group of each table at most instead of the whole table.

Byte identity. ``DataFrame.to_parquet`` (pyarrow) writes a table in row groups of
:data:`ROW_GROUP_ROWS` rows, each from a contiguous slice, under the schema pandas gives the table. A
stream writes the same row groups: it buffers rows until a row group is full and writes it as one
chunk, and the last, shorter one at the end, under the schema pandas gives that row group's table
(equal for every row group: categorical labels are fixed, numeric columns typed). So a streamed file
has the bytes of ``to_parquet`` of the whole table, and a stream that never got a row writes what
``to_parquet`` writes for the empty table.

Row order. Spells are written in closing order, as the in-memory table has them. A decision row is
written once it is settled: its realised cost is filled in when the slot's next review closes the
period (or at the horizon), so the stream takes the prefix of rows no open review period refers to
(:meth:`simulation.model.OutsourcingModel.settled_decision_rows`) and the table keeps the row order of
the reviews.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulation.model import OutsourcingModel
from simulation.model.state.spells import spell_frame

ROW_GROUP_ROWS = 1024 * 1024  # pyarrow's default row group length, which DataFrame.to_parquet uses
Columns = dict[str, np.ndarray]


class ParquetStream:
    """A Parquet file written row group by row group from column chunks, with the bytes of one ``to_parquet``.

    Args:
        path: the file to write.
        build: turns columns (or None: no rows) into the table's DataFrame, as the in-memory table is built.
        row_group_rows: rows per row group (the default is the one ``to_parquet`` uses).
    """

    def __init__(self, path: Path, build: Callable[[Columns | None], pd.DataFrame],
                 row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.path, self.build, self.row_group_rows = Path(path), build, row_group_rows
        self.rows = 0  # rows written or buffered so far
        self._buffer: list[Columns] = []
        self._buffered = 0
        self._writer: pq.ParquetWriter | None = None

    def append(self, columns: Columns | None) -> None:
        """Add rows (columns of equal length; None adds none); full row groups are written at once."""
        if columns is None:
            return
        n = len(next(iter(columns.values())))
        if n == 0:
            return
        self._buffer.append(columns)
        self._buffered += n
        self.rows += n
        while self._buffered >= self.row_group_rows:
            joined = self._joined()
            self._write({c: v[: self.row_group_rows] for c, v in joined.items()})
            rest = {c: v[self.row_group_rows:].copy() for c, v in joined.items()}
            self._buffered -= self.row_group_rows
            self._buffer = [rest] if self._buffered else []

    def close(self) -> None:
        """Write the last row group (or the empty table, if no row came) and the file's footer."""
        if self._buffered:
            self._write(self._joined())
            self._buffer, self._buffered = [], 0
        if self._writer is None:
            self.build(None).to_parquet(self.path, index=False)
        else:
            self._writer.close()
            self._writer = None

    def abort(self) -> None:
        """Stop without writing the rest (the run failed; its partial folder is removed)."""
        self._buffer, self._buffered = [], 0
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _joined(self) -> Columns:
        if len(self._buffer) > 1:
            self._buffer = [{c: np.concatenate([b[c] for b in self._buffer]) for c in self._buffer[0]}]
        return self._buffer[0]

    def _write(self, columns: Columns) -> None:
        table = pa.Table.from_pandas(self.build(columns), preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema, compression="snappy")
        self._writer.write_table(table)


class TableStreams:
    """relationships.parquet and decisions.parquet of one model's run, written into ``folder`` as it runs.

    Use as a context manager; call :meth:`drain` after every week and ``drain(final=True)`` after
    ``model.finish()``. The model's spell tracker and decision log then hold only what is not written yet.
    """

    def __init__(self, model: OutsourcingModel, folder: Path, row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.model = model
        spells = partial(spell_frame, slot_firm=model.slots.firm, slot_service=model.slots.service,
                         service_names=model.catalogue.names)
        self.relationships = ParquetStream(folder / "relationships.parquet", spells, row_group_rows)
        self.decisions = ParquetStream(folder / "decisions.parquet", model.decisions.frame, row_group_rows)

    def drain(self, final: bool = False) -> None:
        """Move the closed spells and the settled decision rows (every row, when ``final``) to their files."""
        model = self.model
        self.relationships.append(model.spells.take())
        upto = model.decisions.rows if final else model.settled_decision_rows()
        self.decisions.append(model.decisions.take(upto))

    def __enter__(self) -> TableStreams:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        for stream in (self.relationships, self.decisions):
            stream.close() if exc_type is None else stream.abort()
