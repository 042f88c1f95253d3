"""Getting bytes in: `seeds` reads local documents, `http` fetches remote feeds."""
