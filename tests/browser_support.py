"""Headless Chromium driven through WebDriver, for the browser tests of the website.

Only Debian's packages are used (``make test`` installs them): /usr/bin/chromium and
/usr/bin/chromedriver, both named explicitly, so Selenium Manager never runs (it would try
to download a browser and a driver, which this closed network refuses). Chromium's own
background traffic (component updates, sync, safe browsing, QUIC probes) is switched off,
and every host name but the loopback is mapped to nowhere, so a page that tried to load
anything from outside would fail loudly instead of hanging. Each browser gets a fresh
profile folder. The console is read through ``goog:loggingPrefs``.

Missing Chromium or chromedriver is a failure under CI (``CI=true``) and a skip, with the
command that installs them, elsewhere.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
         "--disable-features=Translate,OptimizationHints,MediaRouter",
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1, EXCLUDE localhost",
         "--window-size=1366,900", "--hide-scrollbars", "--force-device-scale-factor=1",
         "--lang=en-GB")
PAGE_SECONDS = 20.0          # the longest a page and its charts may take to appear

# Bokeh draws each plot inside shadow roots: look for canvases through them.
_CANVASES_JS = """
const root = arguments[0];
const found = [];
(function walk(node) {
  for (const el of node.querySelectorAll('*')) {
    if (el.tagName === 'CANVAS') found.push([el.width, el.height]);
    if (el.shadowRoot) walk(el.shadowRoot);
  }
})(root);
return found;
"""
_RESOURCES_JS = ("return performance.getEntriesByType('resource').map(e => e.name)"
                 ".concat(performance.getEntriesByType('navigation').map(e => e.name));")
_FULL_HEIGHT_JS = ("return Math.max(document.body.scrollHeight, "
                   "document.documentElement.scrollHeight);")


def require_chromium() -> None:
    """Fail under CI, skip elsewhere, when the browser, its driver or selenium is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if not missing:
        return
    message = (f"browser tests need {', '.join(missing)}: run `make test` (as root it installs "
               "Debian's chromium and chromium-driver) or `apt-get install chromium chromium-driver`")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Browser:
    """One headless Chromium on one site; ``base_url`` is http://127.0.0.1:PORT."""

    driver: object
    base_url: str
    profile: Path
    console: list[dict] = field(default_factory=list)
    width: int = 1366                   # the window's CSS width (set_width changes it)

    # --- navigation -------------------------------------------------------------
    def open(self, path: str) -> None:
        """Open a page of the site (a path, or a full URL of the site) and wait for it."""
        url = path if path.startswith("http") else self.base_url + path
        self.driver.get(url)
        self.wait(lambda: self.driver.execute_script("return document.readyState") == "complete",
                  f"{url} to load")

    def path(self) -> str:
        """The current page's path and query."""
        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def wait(self, condition, what: str, seconds: float = PAGE_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while True:
            if condition():
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {seconds:g} s waiting for {what} "
                                     f"(at {self.driver.current_url})")
            time.sleep(0.05)

    def login(self, username: str, password: str) -> None:
        """Log in through the real /login form, as a person would."""
        from selenium.webdriver.common.by import By

        self.open("/login")
        form = self.driver.find_element(By.CSS_SELECTOR, "form[action='/login'], form")
        form.find_element(By.NAME, "username").send_keys(username)
        form.find_element(By.NAME, "password").send_keys(password)
        buttons = form.find_elements(By.CSS_SELECTOR, "button, input[type=submit]")
        if buttons:
            buttons[0].click()
        else:
            form.submit()
        self.wait(lambda: not urlsplit(self.driver.current_url).path.startswith("/login"),
                  f"the login of {username!r} to leave /login")
        self.wait(lambda: self.driver.execute_script("return document.readyState") == "complete",
                  "the first page after login")

    # --- what is on the page ----------------------------------------------------
    def links(self, selector: str) -> list[str]:
        """The site-local paths of the links matching a CSS selector, in page order."""
        from selenium.webdriver.common.by import By

        paths = []
        for a in self.driver.find_elements(By.CSS_SELECTOR, selector):
            href = a.get_attribute("href") or ""
            parts = urlsplit(href)
            if href.startswith(self.base_url):
                paths.append(parts.path + (f"?{parts.query}" if parts.query else ""))
        return paths

    def charts(self, selector: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def wait_charts_drawn(self, selector: str) -> list[str]:
        """Wait for every chart container to say data-drawn="true", then check that each
        holds a drawn canvas; returns the containers' ids."""
        self.wait(lambda: all(c.get_attribute("data-drawn") == "true"
                              for c in self.charts(selector)),
                  f"every {selector} to get data-drawn=\"true\"")
        ids = []
        for chart in self.charts(selector):
            name = chart.get_attribute("id") or chart.get_attribute("outerHTML")[:80]
            canvases = self.driver.execute_script(_CANVASES_JS, chart)
            assert any(w > 0 and h > 0 for w, h in canvases), \
                f"chart {name} on {self.path()} has no drawn canvas: {canvases}"
            ids.append(name)
        return ids

    def read_console(self) -> list[dict]:
        """Console entries since the last call (also kept in ``self.console``)."""
        entries = self.driver.get_log("browser")
        self.console.extend(entries)
        return entries

    def console_errors(self, allow: tuple[str, ...] = ()) -> list[str]:
        """SEVERE console entries since the last read, but those containing an allowed text."""
        return [e["message"] for e in self.read_console()
                if e.get("level") == "SEVERE" and not any(a in e["message"] for a in allow)]

    def foreign_requests(self) -> list[str]:
        """Every URL this page loaded that is not on the site's own address."""
        names = self.driver.execute_script(_RESOURCES_JS)
        origin = urlsplit(self.base_url)
        return [n for n in names
                if (urlsplit(n).scheme, urlsplit(n).netloc) != (origin.scheme, origin.netloc)]

    def text(self) -> str:
        return self.driver.execute_script("return document.body.innerText")

    def set_width(self, width: int) -> None:
        """Lay pages out as a screen ``width`` CSS pixels wide (390: a phone), from the
        next page opened on (a narrow width is emulated as a mobile viewport)."""
        self.width = width
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600})

    def sideways_scroll(self) -> int:
        """How many pixels the page is wider than the window (0: no sideways scrolling)."""
        return int(self.driver.execute_script(
            "return Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"))

    def screenshot(self, target: Path, max_height: int = 2400) -> Path:
        """A PNG of the whole page (up to ``max_height`` pixels tall)."""
        height = min(int(self.driver.execute_script(_FULL_HEIGHT_JS)), max_height)
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1}})
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(shot["data"]))
        return target

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


def start_browser(base_url: str) -> Browser:
    """A new headless Chromium with a fresh profile, pointed at nothing yet."""
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="tpdask-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=os.devnull)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except Exception:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    driver.set_page_load_timeout(PAGE_SECONDS)
    return Browser(driver, base_url.rstrip("/"), profile)


def screenshot_dir(tmp_root: Path) -> Path:
    """Where the screenshots go: env TPDASK_SCREENSHOTS (e.g. docs/web), else ``tmp_root``."""
    named = os.environ.get("TPDASK_SCREENSHOTS")
    folder = Path(named) if named else tmp_root
    folder.mkdir(parents=True, exist_ok=True)
    return folder
