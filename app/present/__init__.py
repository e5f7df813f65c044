"""Detection's findings put into words people read, for every page and document that shows them.

The web UI's cluster page and the briefings print the same evidence tables,
attribution hints, exposure and country names; both take them from here, so
they agree, and a briefing never needs the web package to be written.
"""
