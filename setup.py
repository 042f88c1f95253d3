"""The one compiled part: the seeds folder's listing (aggregator/ingest/_listing.c).

Optional: where it cannot be built (no C compiler, another platform), the install goes on
and `aggregator.ingest.seeds` lists the folder in Python, with the same results, slower.
Everything else about the package is in pyproject.toml.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "aggregator.ingest._listing",
            sources=["aggregator/ingest/_listing.c"],
            optional=True,
        )
    ]
)
