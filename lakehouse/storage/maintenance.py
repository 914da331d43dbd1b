"""Table maintenance: the `maintain` stage compacts, checkpoints and vacuums every Delta table.

Without it the lake only grows: every gold rebuild and every silver batch replace leaves the
replaced Parquet files behind (still listed by older versions), and small incremental writes
pile up as small files that every reader must open. After each pipeline run, for every table
of the catalog, this step:

1. compacts (`optimize.compact`) once the table has `compact_min_files` small data files or
   more (under `compact_target_mb`), rewriting them into files of up to that size in a commit
   that changes no row. Files at or above the target are left alone: with delta-rs' default
   target (100 MB) a table smaller than that — silver at 1 M rows — was rewritten whole
   every few days, a cost that grew with the history instead of the days;
2. vacuums the files that no version younger than `vacuum_retention_hours` references —
   a reader still on an older snapshot keeps its files that long. Vacuum runs only when it has
   something to delete, so a quiet lake gets no new commits;
3. writes a checkpoint at the table's latest *data* version when it moved since the last one,
   so a reader loads one Parquet file instead of replaying every JSON commit, and deletes the
   log entries (JSON commits, older checkpoints) before that version and older than the
   retention (`cleanup_metadata`). The table's `delta.logRetentionDuration` is set to the
   vacuum retention: Delta's default keeps 30 days of log, so a table maintained after
   every run gained three log files a run (a checkpoint, the vacuum's two commits) and the
   lake's file count grew faster than without maintenance. The checkpoint sits at the data
   version, not after the maintenance commits, because the runs read that commit back (its
   lineage metadata, `storage.version`, silver's change feed from it): only what came
   before it goes. Maintenance commits never checkpoint or clean the log on their own
   (delta-rs' post-commit hook would do both at every 100th version, whatever it is).

Compaction and vacuum commits are maintenance commits: `lakehouse.storage.version` skips them,
so the next run does not rebuild anything because the lake was tidied.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
from deltalake import DeltaTable
from deltalake.transaction import PostCommitHookProperties

from lakehouse import catalog
from lakehouse.config import Settings
from lakehouse.storage.delta import filesystem, open_table, version

LOG_RETENTION = "delta.logRetentionDuration"
QUIET = PostCommitHookProperties(create_checkpoint=False, cleanup_expired_logs=False)

logger = logging.getLogger("lakehouse.storage.maintenance")


@dataclass(frozen=True)
class Footprint:
    """What a table (or the whole lake) occupies: every file under its folder, log included."""

    files: int = 0
    bytes: int = 0

    def __add__(self, other: Footprint) -> Footprint:
        return Footprint(self.files + other.files, self.bytes + other.bytes)


@dataclass(frozen=True)
class Upkeep:
    """What maintenance did to one table."""

    table: str
    compacted_files: int  # data files rewritten by compaction (0: below the threshold)
    vacuumed_files: int  # unreferenced files deleted
    before: Footprint
    after: Footprint


def footprint(uri: str, settings: Settings) -> Footprint:
    """Files and bytes under the table's folder (data files of every version, and the log).

    Args:
        uri: the table's location.
        settings: storage options.

    Returns:
        The table's files and bytes.
    """
    fs, path = filesystem(uri, settings.storage_options())
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    files = [info for info in infos if info.type == pafs.FileType.File]
    return Footprint(len(files), sum(info.size or 0 for info in files))


def maintain_table(name: str, settings: Settings) -> Upkeep | None:
    """Compact, checkpoint and vacuum the catalog table `name` (None: it does not exist yet).

    Args:
        name: a catalog name.
        settings: storage options and `LAKEHOUSE_VACUUM_RETENTION_HOURS`.

    Returns:
        The files compacted and vacuumed and the footprint before and after, or None.
    """
    uri = catalog.location(name, settings)
    table = open_table(uri, settings)
    if table is None:
        return None
    before = footprint(uri, settings)
    _set_log_retention(table, settings.vacuum_retention_hours)
    compacted = 0
    target = settings.compact_target_mb * 1024 * 1024
    sizes = pa.table(table.get_add_actions(flatten=True)).column("size_bytes")
    if (pc.sum(pc.less(sizes, target)).as_py() or 0) >= settings.compact_min_files:
        compacted = int(table.optimize.compact(
            target_size=target, post_commithook_properties=QUIET)["numFilesRemoved"])
    vacuum = {
        "retention_hours": settings.vacuum_retention_hours,
        "enforce_retention_duration": False,
    }
    # A real vacuum commits even with nothing to do, and the log's tombstones keep naming
    # files it already deleted: vacuum only when one of its candidates still exists.
    candidates = _existing(uri, table.vacuum(dry_run=True, **vacuum), settings)
    if candidates:
        table.vacuum(dry_run=False, post_commithook_properties=QUIET, **vacuum)
    _checkpoint(uri, settings)
    return Upkeep(name, compacted, len(candidates), before, footprint(uri, settings))


def _set_log_retention(table: DeltaTable, hours: int) -> None:
    """Keep the table's log as long as its replaced files (one commit, when it changes)."""
    wanted = f"interval {hours} hours"
    if table.metadata().configuration.get(LOG_RETENTION) != wanted:
        table.alter.set_table_properties(
            {LOG_RETENTION: wanted}, post_commithook_properties=QUIET
        )


def _checkpoint(uri: str, settings: Settings) -> None:
    """Checkpoint the latest data version, then drop the log entries before it that expired."""
    data_version = version(uri, settings)
    if data_version is None or _checkpointed_version(uri, settings) == data_version:
        return
    snapshot = open_table(uri, settings)
    assert snapshot is not None
    snapshot.load_as_version(data_version)
    snapshot.create_checkpoint()
    snapshot.cleanup_metadata()  # bounded by the loaded version: later commits stay


def _checkpointed_version(uri: str, settings: Settings) -> int | None:
    """The version of the table's latest checkpoint (None: never checkpointed)."""
    fs, root = filesystem(uri, settings.storage_options())
    try:
        with fs.open_input_stream(f"{root.rstrip('/')}/_delta_log/_last_checkpoint") as stream:
            return int(json.loads(stream.read())["version"])
    except FileNotFoundError:
        return None


def _existing(uri: str, paths: list[str], settings: Settings) -> list[str]:
    """The `paths` (relative to the table) that are still stored."""
    if not paths:
        return []
    fs, root = filesystem(uri, settings.storage_options())
    infos = fs.get_file_info([f"{root.rstrip('/')}/{path}" for path in paths])
    return [
        path for path, info in zip(paths, infos, strict=True) if info.type == pafs.FileType.File
    ]


def maintain_lake(settings: Settings) -> list[Upkeep]:
    """`maintain_table` on every table of the catalog, bronze to gold.

    Args:
        settings: the platform settings.

    Returns:
        One `Upkeep` per existing table.
    """
    done = []
    for name in catalog.CATALOG:
        upkeep = maintain_table(name, settings)
        if upkeep is None:
            continue
        done.append(upkeep)
        logger.info(
            "table maintained",
            extra={
                "table": name,
                "compacted_files": upkeep.compacted_files,
                "vacuumed_files": upkeep.vacuumed_files,
                "files_before": upkeep.before.files,
                "files_after": upkeep.after.files,
                "bytes_after": upkeep.after.bytes,
            },
        )
    return done


def lake_footprint(settings: Settings) -> Footprint:
    """The footprint of every catalog table together.

    Args:
        settings: the platform settings.

    Returns:
        The summed files and bytes.
    """
    total = Footprint()
    for name in catalog.CATALOG:
        total = total + footprint(catalog.location(name, settings), settings)
    return total
