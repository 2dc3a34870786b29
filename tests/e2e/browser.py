"""Debian's Chromium, driven headless by Playwright (browser downloads do not work here:
`.ci/run` installs the `chromium` package when it is missing), and screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.conftest import ROOT

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
VIEWPORT = {"width": 1280, "height": 860}


@contextmanager
def chromium() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page: Page, name: str) -> Path:
    """Saved under tests/artifacts/ (ignored by git) for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def fits_the_viewport(page: Page) -> bool:
    """Nothing scrolls sideways at 1280 px, and no table spills out of the page's column."""
    return bool(
        page.evaluate(
            """() => {
              const main = document.querySelector('main');
              const edge = main.getBoundingClientRect().right
                - parseFloat(getComputedStyle(main).paddingRight) + 1;
              return document.documentElement.scrollWidth <= window.innerWidth &&
                [...main.querySelectorAll('table')].every(
                  t => t.getBoundingClientRect().right <= edge);
            }"""
        )
    )
