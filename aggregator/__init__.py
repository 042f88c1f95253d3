"""aggregator: ingest seed documents and feeds, clean and merge them, publish one Atom feed."""

__version__ = "0.1.0"
