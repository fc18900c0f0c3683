"""Positions of the PostgreSQL source: where a transaction committed in the WAL, where a restart
resumes, and the snapshot progress that travels with them (docs/design.md, "Checkpoint
positions")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arrowtail.sources.base import PositionJSON, SourcePosition, unknown_keys

_KEYS = (
    "lsn",
    "end_lsn",
    "last_commit_lsn",
    "snapshot",
    "snapshot_progress",
    "incremental",
    "published",
)


@dataclass(frozen=True, eq=True)
class PgPosition(SourcePosition):
    """``lsn``: commit LSN of the last stored transaction (or the WAL end of an idle keepalive),
    the ``_pos`` of its changes; ``end_lsn``: end of that commit record, what the slot is told is
    flushed (absent in positions written by ``decode`` from capture files); ``last_commit_lsn``:
    end LSN of the last transaction handed on up to here, kept by idle positions too (absent when
    none is known: before the first commit after a snapshot or a start without checkpoint, and in
    positions stored before the key existed); ``snapshot``: the position completes an initial
    snapshot; ``snapshot_progress``: what an initial snapshot still running has stored
    (``parallel.SnapshotState``); ``incremental``: progress of incremental snapshots;
    ``published``: the tables whose rows the target holds in full up to here (published when the
    run started, or read again since), each with its catalog fingerprint
    (``admin.table_fingerprints``), so that a restart knows which ones joined the capture or were
    rewritten while no run streamed (absent in positions stored before the key existed)."""

    lsn: int
    end_lsn: int | None = None
    last_commit_lsn: int | None = None
    snapshot: bool = False
    snapshot_progress: dict[str, Any] | None = None
    incremental: list[dict[str, Any]] | None = None
    published: dict[str, str] | None = None
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def order(self) -> int:
        return self.lsn

    @property
    def resume_lsn(self) -> int:
        """Where a restart resumes: ``end_lsn``, or ``lsn`` for positions without one."""
        return self.lsn if self.end_lsn is None else self.end_lsn

    @property
    def commit_before_resume(self) -> int | None:
        """End LSN of the last transaction committed before where a restart resumes (what the
        decoder stamps as ``_last_commit_lsn`` until it sees a commit): ``last_commit_lsn``; for
        a position stored without it, its own commit's end when it is a commit position (an
        ``end_lsn`` past ``lsn``), else None (unknown)."""
        if self.last_commit_lsn is not None:
            return self.last_commit_lsn
        if self.end_lsn is not None and self.end_lsn > self.lsn:
            return self.end_lsn
        return None

    def to_json(self) -> PositionJSON:
        out: PositionJSON = {"lsn": self.lsn}
        if self.end_lsn is not None:
            out["end_lsn"] = self.end_lsn
        if self.last_commit_lsn is not None:
            out["last_commit_lsn"] = self.last_commit_lsn
        if self.snapshot:
            out["snapshot"] = True
        if self.snapshot_progress is not None:
            out["snapshot_progress"] = self.snapshot_progress
        if self.incremental is not None:
            out["incremental"] = self.incremental
        if self.published is not None:
            out["published"] = self.published
        out.update(self.extra)
        return out

    @classmethod
    def from_json(cls, data: PositionJSON) -> PgPosition:
        end = data.get("end_lsn")
        last_commit = data.get("last_commit_lsn")
        return cls(
            lsn=int(data["lsn"]),
            end_lsn=None if end is None else int(end),
            last_commit_lsn=None if last_commit is None else int(last_commit),
            snapshot=bool(data.get("snapshot", False)),
            snapshot_progress=data.get("snapshot_progress"),
            incremental=data.get("incremental"),
            published=data.get("published"),
            extra=unknown_keys(data, _KEYS),
        )
