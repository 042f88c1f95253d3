"""Normalising: one `RawEntry` (what a source said) → one `Item` (what we publish).

`aggregator.normalise.entry.normalise_entry` runs the steps, each in a module of its own
here (budget, text, boilerplate, html, titles, dates, authors, identity). Nothing is
imported by the package itself: a module that needs one step (identity, filters,
organisations) does not load them all (lxml, nh3, dateutil: a fifth of a worker's start).
"""
