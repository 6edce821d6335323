"""The documentation site builds strict and offline, its links hold, and its front page renders.

The site is built once for the module by `scripts/docs.py --no-serve`, the build `pipenv run
docs` makes: Sphinx with warnings as errors, so a link to a page or an anchor that does not
exist, a page in no table of contents or a docstring autodoc cannot read fails it. Then the
built HTML is read for what Sphinx does not check: every link inside the site lands on a file
and an anchor that exist, and nothing is fetched from another host.
"""

import functools
import http.server
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from support.browser import offline_chromium
from support.scratch import free_port
from tests.databases import ROOT

DOCS = ROOT / "docs"
# Each page that holds shell commands, and the test that runs them as written. A page added
# with commands and no test running them fails here.
COMMANDS_RUN_BY = {
    "own-postgresql.md": "tests/test_readme.py",
    "renames.md": "tests/test_readme.py",  # the README's rename block, the same text
    "zero-downtime-rename.md": "tests/zerodowntime/test_rename_recipe.py",
    # toolkit.md includes toolkit/README.md, whose commands toolkit/tests/test_adopter_*.py
    # run in a fresh `alembic init` project.
    # Not runnable here (no Docker engine, no cluster): the files they use are checked
    # statically, and the commands against them.
    "docker.md": "tests/test_project.py",
    "deploy.md": "tests/deploy/test_runbook.py",
    # The test suite's own command lines.
    "testing.md": "tests/test_project.py",
}


class Links(HTMLParser):
    """The ids a page defines, the links it follows and the resources it loads."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.resources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        if tag in {"script", "img", "iframe"} and "src" in values:
            self.resources.append(values["src"])
        if tag == "link" and "href" in values:
            self.resources.append(values["href"])


@functools.cache
def parsed(page: Path) -> Links:
    links = Links()
    links.feed(page.read_text())
    return links


def is_remote(url: str) -> bool:
    return url.startswith("//") or bool(urlsplit(url).scheme)


@pytest.fixture(scope="module")
def site() -> Iterator[Path]:
    """The site, built into a scratch folder; a failed build fails with Sphinx's warnings."""
    with tempfile.TemporaryDirectory(prefix="docs-") as folder:
        out = Path(folder)
        result = subprocess.run(
            [sys.executable, ROOT / "scripts" / "docs.py", "--no-serve", "--out", out],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        yield out


def test_every_link_inside_the_site_lands_on_a_page_and_an_anchor(site: Path) -> None:
    pages = sorted(site.glob("**/*.html"))
    assert (site / "index.html") in pages
    broken = []
    for page in pages:
        for href in parsed(page).links:
            if is_remote(href) or href.startswith("mailto:"):
                continue
            parts = urlsplit(href)
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {href} (no such file)")
            elif target.suffix == ".html" and parts.fragment:
                anchor = unquote(parts.fragment)
                if anchor not in parsed(target).ids:
                    broken.append(f"{page.relative_to(site)}: {href} (no such anchor)")
    assert not broken, "\n".join(broken)


def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    remote = [
        f"{page.relative_to(site)}: {url}"
        for page in site.glob("**/*.html")
        for url in parsed(page).resources
        if is_remote(url)
    ]
    for sheet in site.glob("**/*.css"):
        for url in re.findall(r"(?:url\(|@import)\s*['\"]?([^'\")\s;]+)", sheet.read_text()):
            if is_remote(url) and not url.startswith("data:"):
                remote.append(f"{sheet.relative_to(site)}: {url}")
    assert not remote, "\n".join(remote)


def test_every_page_with_commands_names_the_test_that_runs_them() -> None:
    pages = {page.name for page in DOCS.glob("*.md") if "```sh" in page.read_text()}
    assert pages, "no docs page holds a shell command: the check below would prove nothing"
    assert pages <= set(COMMANDS_RUN_BY), sorted(pages - set(COMMANDS_RUN_BY))
    for page, test in COMMANDS_RUN_BY.items():
        assert (ROOT / test).is_file(), f"{page}: {test} does not exist"


def test_the_rename_page_shows_the_commands_the_readme_runs() -> None:
    block = re.compile(r"```sh\n(.*?)```", re.DOTALL)
    readme = block.findall((ROOT / "README.md").read_text())
    [renames] = block.findall((DOCS / "renames.md").read_text())
    assert renames in readme


@pytest.fixture
def served(site: Path) -> Iterator[str]:
    """The built site over HTTP on a free loopback port; yields its front page's URL."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging each request to stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_the_front_page_renders_offline_in_a_browser(served: str, tmp_path: Path) -> None:
    screenshot = tmp_path / "front-page.png"
    with tempfile.TemporaryDirectory() as profile:
        dom = offline_chromium(served, "--dump-dom", profile=profile)
        shot = offline_chromium(
            served, f"--screenshot={screenshot}", "--window-size=1280,900", profile=profile
        )
    assert dom.returncode == 0, dom.stderr
    assert shot.returncode == 0, shot.stderr
    # furo's layout, with its navigation built from the tables of contents.
    assert 'class="sidebar-tree"' in dom.stdout
    for caption in ("Tutorials", "How-to guides", "Reference", "Explanation"):
        assert caption in dom.stdout, caption
    with Image.open(screenshot) as image:
        assert image.size == (1280, 900)
        pixels = image.convert("RGB")
        # Styled by the theme, not a bare HTML page: furo's sidebar is shaded, the page white.
        assert pixels.getpixel((50, 450)) != pixels.getpixel((1200, 450))
        # Not blank: text, links and the navigation give many colours.
        colours = pixels.getcolors(maxcolors=1_000_000)
        assert colours is not None
        assert len(colours) > 50, len(colours)
