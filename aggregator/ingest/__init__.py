"""Getting bytes in: `seeds` reads local documents, `http` fetches remote feeds."""

import sys

# httpx imports its command-line client whenever rich, pygments and click are installed
# (rich and click are ours): ~60 ms of every start of a process that fetches, for a CLI
# nothing here runs. A None entry makes that one import fail, which httpx expects and
# answers with a stub `httpx.main`. Left alone if something imported it already.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
