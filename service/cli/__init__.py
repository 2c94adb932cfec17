"""``rnntune``: serve the API with local workers, run workers, and drive studies.

``_local`` holds the commands that work on this machine's database, ``_remote`` those that
drive a server over its API, ``_format`` how their results read, ``_main`` the parser.
"""

from service.cli._main import build_parser, main

__all__ = ["build_parser", "main"]
