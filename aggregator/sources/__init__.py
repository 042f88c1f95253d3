"""Sources as the operator configures them: the config file editor, OPML, and the naming
of each source's own feed."""
