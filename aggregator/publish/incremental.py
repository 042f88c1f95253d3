"""A publish after a change: the entries the store logged as changed since the version
the folder holds are read, and only the files they can change are looked at.

    changed entries (Store.changed_entries, and those of sources whose attribution changed)
      → their versions and places, compared with the manifest's
      → the files they sit in: their months' archive pages (and the neighbours whose
        links move), index.atom/.json/.html, the feeds and pages of the sources that
        carried them, their own pages
      → each file's key from the manifest's rows; a file rendered only when its key
        changed or it is missing, from the entries loaded for it alone

Every query reads a month, a feed's newest entries or the changed entries: nothing
grows with the history but a month's size. The keys are those a full publish gives the
same files (`site.OutputMaker`), so either kind of publish can follow the other. The
manifest's rows change in one transaction, committed after the files are written: a
publish that dies midway leaves the folder's manifest as it was, and the next publish
does the work again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from aggregator.exceptions import PublishError
from aggregator.publish import archive, pages
from aggregator.publish.archive import (
    archive_documents_of,
    archive_path,
    month_pages,
    page_name,
    page_names,
)
from aggregator.publish.atom import AtomDocument
from aggregator.publish.clean import PublishedEntry
from aggregator.publish.html import DIRECTORY_PATH, RiverPage, html_path
from aggregator.publish.info import FeedInfo, PublishReport, SourceInfo
from aggregator.publish.jsonfeed import JSON_PATH
from aggregator.publish.manifest import Manifest, Placed
from aggregator.publish.opml import OPML_PATH
from aggregator.publish.pages import group_pages, index_page, river_pages
from aggregator.publish.site import (
    Output,
    OutputMaker,
    all_sources_of,
    groups_of,
    index_document,
    newest_of,
    write_stale,
)
from aggregator.publish.versions import (
    Job,
    Loader,
    entry_versions,
    placeholder,
    source_digests,
    stand_in,
    stories_of,
)


def publish_changes(job: Job, manifest: Manifest) -> tuple[PublishReport | None, int]:
    """Publish what changed since the folder's manifest was written (see the module);
    None when nothing the folder shows changed."""
    store, info = job.store, job.info
    since = int(manifest.fact("version") or 0)
    count = int(manifest.fact("entries") or 0)
    ids = set(store.changed_entries(since, until=job.data_version))
    before, after = manifest.source_digests(), source_digests(job.attributed)
    reattributed = {s for s in before.keys() | after.keys() if before.get(s) != after.get(s)}
    if reattributed:  # atom:source changes in each of their entries
        ids.update(store.entries_of_sources(reattributed))
    loader = Loader(store, info.base_url)
    new = _placed(job, ids, loader)
    old = manifest.entries(ids)
    changed = sorted(i for i in ids if old.get(i) != new.get(i))
    relisted = manifest.fact("sources") != job.listed
    with manifest.transaction():
        if not changed and not relisted:
            manifest.set_source_digests(after)
            manifest.set_facts(job.facts(count))
            return None, count
        removed = [old[i] for i in changed if i in old]
        added = [new[i] for i in changed if i in new]
        count += len(added) - len(removed)
        report = _apply(job, manifest, removed, added, loader, relisted=relisted)
        manifest.set_source_digests(after)
        manifest.set_facts(job.facts(count))
    manifest.seal(job.settings.out)
    return report, count


def _placed(job: Job, ids: set[str], loader: Loader) -> dict[str, Placed]:
    """The changed entries as they are now (an entry without items is gone)."""
    versions = entry_versions(job.store.item_versions(ids), job.attributed)
    stories = stories_of(versions, {}, loader)
    placed = {}
    for entry_id, version in versions.items():
        e = stand_in(entry_id, version, stories)
        placed[entry_id] = Placed(
            entry_id, version.digest, e.published, e.updated, e.page, e.carried_by
        )
    return placed


def _apply(
    job: Job,
    manifest: Manifest,
    removed: Sequence[Placed],
    added: Sequence[Placed],
    loader: Loader,
    *,
    relisted: bool,
) -> PublishReport:
    """Bring the manifest's entries and the files they sit in up to date (inside the
    manifest's transaction). When the sources listed changed (`relisted`), every
    per-source and per-tag feed and page, the directory and the OPML list are looked at
    too, and those of sources and tags that are gone removed."""
    atom_before = page_names(manifest.months(), archive.ARCHIVE_PAGE_SIZE)
    html_before = page_names(manifest.months(), pages.HTML_PAGE_SIZE)
    manifest.remove_entries(removed)
    manifest.add_entries(added)
    touched = {e.month for e in itertools.chain(removed, added)}
    manifest.recount_months(touched)
    months = manifest.months()
    atom_after = page_names(months, archive.ARCHIVE_PAGE_SIZE)
    html_after = page_names(months, pages.HTML_PAGE_SIZE)
    touched |= _relinked(atom_before, atom_after) | _relinked(html_before, html_after)
    docs = _Docs(job.info, manifest)
    for month in sorted(touched & months.keys()):
        docs.month(month, atom_after, html_after)
    docs.index(atom_after)
    carried = {s for e in itertools.chain(removed, added) for s in e.carried_by}
    feeds = docs.groups(job, None if relisted else carried)
    for e in added:
        if e.page is not None:
            docs.entry_pages.append(docs.stand_in(e))
    gone = {html_path(archive_path(name)) for name in set(html_before) - set(html_after)}
    gone |= {e.page for e in removed if e.page} - {e.page for e in added if e.page}
    if relisted:
        docs.listed = all_sources_of(job.sources, ())
        was = [p for folder in ("sources/", "tags/") for p in manifest.paths_under(folder)]
        gone |= set(was) - {path for feed in feeds for path in (feed, html_path(feed))}
    return _write(job, manifest, docs, loader, gone, dropped=set(atom_before) - set(atom_after))


def _relinked(before: Sequence[str], after: Sequence[str]) -> set[str]:
    """The months of the pages whose neighbours (their links) differ between two lists."""

    def neighbours(names: Sequence[str]) -> dict[str, tuple[str | None, str | None]]:
        padded = [None, *names, None]
        return {name: (padded[i], padded[i + 2]) for i, name in enumerate(names)}

    old, new = neighbours(before), neighbours(after)
    return {name[:7] for name in new if old.get(name) != new[name]}


class _Docs:
    """The documents and pages a change touches, of stand-ins from the manifest."""

    def __init__(self, info: FeedInfo, manifest: Manifest) -> None:
        self.info = info
        self._manifest = manifest
        self.digests: dict[str, bytes] = {}
        self.atoms: list[AtomDocument] = []  # archives, then per-source and per-tag feeds
        self.rivers: list[RiverPage] = []  # index.html, archives, feeds' pages
        self.entry_pages: list[PublishedEntry] = []
        self.newest: list[PublishedEntry] = []
        self.index_doc: AtomDocument | None = None
        self.listed: list[SourceInfo] | None = None  # for the directory and OPML, if changed

    def stand_in(self, placed: Placed) -> PublishedEntry:
        self.digests[placed.id] = placed.digest
        return placeholder(
            placed.id, placed.published, placed.updated, placed.carried_by, placed.page
        )

    def month(self, month: str, atom_names: Sequence[str], html_names: Sequence[str]) -> None:
        entries = [self.stand_in(p) for p in self._manifest.month(month)]
        atom_pages = month_pages(month, entries, archive.ARCHIVE_PAGE_SIZE)
        self.atoms += archive_documents_of(self.info, atom_names, atom_pages)
        html_pages = month_pages(month, entries, pages.HTML_PAGE_SIZE)
        self.rivers += river_pages(html_names, html_pages)

    def index(self, atom_names: Sequence[str]) -> None:
        shown = self.info.entries_per_feed
        placed = self._manifest.newest(shown + 1)
        self.newest = [self.stand_in(p) for p in placed[:shown]]
        older = None
        if len(placed) > shown:  # the page of the first entry the index does not show
            first = placed[shown]
            number = self._manifest.position_in_month(first) // pages.HTML_PAGE_SIZE + 1
            older = html_path(archive_path(page_name(first.month, number)))
        # As `archive.newest_archive_link` of every archive document.
        links = (("prev-archive", archive_path(atom_names[-1])),) if atom_names else ()
        self.index_doc = index_document(self.info, self.newest, links)
        self.rivers.insert(0, index_page(self.newest, older))

    def groups(self, job: Job, sources: set[str] | None) -> list[str]:
        """The feeds (and their pages) of the groups holding one of `sources` (of all
        groups, without `sources`); the paths of every group's feed."""
        all_sources = all_sources_of(job.sources, ())
        groups = groups_of(self.info, all_sources)
        limit = self.info.entries_per_feed
        docs = []
        for path, (title, feed_id, members) in sorted(groups.items()):
            if sources is not None and not members & sources:
                continue
            by_source = {
                s: [self.stand_in(p) for p in self._manifest.newest_of_source(s, limit)]
                for s in sorted(members)
            }
            docs.append(
                AtomDocument(
                    path=path,
                    feed_id=feed_id,
                    title=f"{self.info.title}: {title}",
                    entries=newest_of(by_source, members, limit),
                )
            )
        self.atoms += docs
        self.rivers += group_pages(docs, groups, all_sources)
        return list(groups)


def _write(
    job: Job,
    manifest: Manifest,
    docs: _Docs,
    loader: Loader,
    gone: set[str],
    *,
    dropped: set[str],
) -> PublishReport:
    """Render and write the stale files of `docs`, remove `gone`, note the keys."""
    out = job.settings.out
    planned = [d.path for d in docs.atoms] + [r.path for r in docs.rivers]
    planned += [e.page for e in docs.entry_pages if e.page]
    assert docs.index_doc is not None
    kept = manifest.files([*planned, docs.index_doc.path, JSON_PATH, DIRECTORY_PATH, OPML_PATH])
    new_stamps: dict[str, tuple[str, str]] = {}

    def last_change(path: str, key: str) -> datetime:
        old_key, when = kept.get(path, ("", None))
        moment = datetime.fromisoformat(when) if old_key == key and when else job.now
        new_stamps[path] = (key, moment.isoformat())
        return moment

    warnings: list[str] = []
    loaded: dict[str, PublishedEntry] = {}
    make = OutputMaker(
        docs.info,
        warnings,
        last_change=last_change,
        version=lambda e: docs.digests[e.id],
        loaded=loaded,
    )
    outputs: dict[str, Output] = {}
    for out_file in itertools.chain(
        (make.atom(d) for d in docs.atoms),
        [make.json(docs.newest)],
        (make.river(r) for r in docs.rivers),
        (make.entry(e, e.page) for e in docs.entry_pages if e.page),
        [make.directory(docs.listed), make.opml(docs.listed)] if docs.listed is not None else [],
        [make.atom(docs.index_doc)],
    ):
        outputs.setdefault(out_file.path, out_file)
    previous = {path: key for path, (key, _) in kept.items()}
    listed = list(outputs.values())
    changed = write_stale(out, listed, previous, warnings, loaded=loaded, load=loader.load)
    removed = _remove(out, gone - outputs.keys())
    keys = {o.path: o.key for o in listed}
    manifest.save_files(keys, new_stamps, [*removed, *(archive_path(n) for n in dropped)])
    return PublishReport(
        written=tuple(o.path for o in listed if o.path in changed),
        unchanged=tuple(o.path for o in listed if o.path not in changed),
        removed=tuple(removed),
        warnings=tuple(warnings),
        keys=keys,
        stamps=new_stamps,
    )


def _remove(out: Path, paths: Iterable[str]) -> list[str]:
    removed = []
    for path in sorted(paths):
        try:
            (out / path).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise PublishError(f"{out / path}: cannot remove: {exc.strerror or exc}") from exc
        removed.append(path)
    return removed
