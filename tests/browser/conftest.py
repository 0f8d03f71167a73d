"""Real browsers for the browser tests: Debian's headless Chromium driven by Playwright.

Each person in a test gets a fresh Chromium profile of their own. When a test fails,
every page it opened is saved as a screenshot under test-artifacts/ and its path is
printed with the test's report.
"""

import re
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"  # `make test` installs Debian's chromium where it is missing
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# long enough for a start and JupyterLab's first load; a wait for a state, not a measure
WAIT_MS = 120_000

failed_key = pytest.StashKey[bool]()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.when == "call" and report.failed:
        item.stash[failed_key] = True


@pytest.fixture
def browser(request, tmp_path):
    """``browser(person)``: a page in a Chromium of that person's own."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium, as root)")
    contexts = []
    with sync_playwright() as playwright:

        def open_page(person: str):
            context = playwright.chromium.launch_persistent_context(
                tmp_path / f"chromium-{person}", executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            context.set_default_timeout(WAIT_MS)
            contexts.append((person, context))
            return context.pages[0] if context.pages else context.new_page()

        yield open_page
        for person, context in contexts:
            if request.node.stash.get(failed_key, False):
                for number, page in enumerate(context.pages):
                    path = ARTIFACTS / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', request.node.name)}-{person}-{number}.png"
                    path.parent.mkdir(exist_ok=True)
                    page.screenshot(path=str(path), full_page=True)
                    print(f"screenshot of {person}'s page {page.url}: {path}")
            context.close()
