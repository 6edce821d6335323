"""Sphinx's configuration for the documentation site: MyST Markdown pages, the furo theme.

Sphinx with MyST is what Alembic's and SQLAlchemy's own documentation is built with (the
choice and its reasons are on the front page, index.md). The site must build offline and
without a warning (`-W`, tests/docs/test_site.py): nothing here loads from the internet.
"""

import logging

from pygments.lexers.special import TextLexer
from sphinx.application import Sphinx

project = "alembic-stuff"
author = "the alembic-stuff contributors"
extensions = ["myst_parser", "sphinx.ext.autodoc"]
source_suffix = {".md": "markdown"}
# Links to a section of another page (`renames.md#the-hints`) are checked like links to pages.
myst_heading_anchors = 3
html_theme = "furo"
html_title = "alembic-stuff"
# The toolkit's API, from its docstrings: signatures with their types, in the description.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
# A psql script's meta-commands (`\connect`) are not SQL to Pygments: such a block is shown
# without colours rather than failing the build.
suppress_warnings = ["misc.highlighting_failure"]


def quiet_root_logger(app: Sphinx) -> None:
    """Undo the `logging.basicConfig(level=INFO)` that accessible-pygments (furo's) runs on import.

    Left in place, every library autodoc imports (Alembic's plugins first) prints its INFO lines
    into the build's output. Sphinx's own messages go through its own logger, untouched.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def setup(app: Sphinx) -> None:
    """Show mermaid diagrams as their source (mermaid.js would come from a CDN); a quiet build."""
    app.add_lexer("mermaid", TextLexer)
    app.connect("builder-inited", quiet_root_logger)
