"""Running the aggregator: event loop, processes, progress, memory, locking, logging, the daemon."""
