"""What a person sees on the scan page, in a real browser (Debian's Chromium via Playwright)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from api.app import create_app
from api.services import Services
from tests.api.conftest import UNKNOWN_GTIN

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (scripts/setup.sh installs it as root)"
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(services: Services) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="error")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not instance.started:
        if time.monotonic() > deadline:
            pytest.fail("uvicorn did not start within 15 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        yield context.new_page()
        browser.close()


def _open(page: object, url: str) -> dict[str, str]:
    from playwright.sync_api import Page  # noqa: PLC0415

    assert isinstance(page, Page)
    page.goto(url)
    verdict = page.get_by_test_id("verdict")
    return {
        "heading": page.locator("h1").inner_text(),
        "verdict": verdict.get_attribute("data-verdict") or "",
        "colour": verdict.evaluate("e => getComputedStyle(e).backgroundColor"),
        "text": page.locator("main").inner_text(),
    }


def test_a_genuine_item_shows_green_genuine_with_its_product_path_and_proof(
    page: object, server: str, demo_urls: dict[str, str], services: Services
) -> None:
    seen = _open(page, demo_urls["in_shop"].replace("http://testserver", server))
    assert seen["heading"] == "Genuine"
    assert seen["verdict"] == "authentic"
    assert seen["colour"] == "rgb(27, 127, 59)"  # --ok
    text = seen["text"]
    for expected in ("Acme Watches", "Acme Diver 300", "Path to you", "Shipped", "Received"):
        assert expected in text
    assert services.registry.address in text.replace("\n", "")


def test_a_recalled_item_says_so_in_amber(
    page: object, server: str, demo_urls: dict[str, str]
) -> None:
    seen = _open(page, demo_urls["recalled"].replace("http://testserver", server))
    assert seen["heading"] == "Recalled"
    assert seen["colour"] == "rgb(178, 106, 0)"  # --warn
    assert "Recalled by the brand" in seen["text"]


def test_an_unknown_code_says_no_brand_issued_it(page: object, server: str) -> None:
    seen = _open(page, f"{server}/01/{UNKNOWN_GTIN}/21/ANY")
    assert seen["heading"] == "Unknown code"
    assert seen["verdict"] == "unknown"
    assert "No brand registered with Veritag issued this code" in seen["text"]
    assert "Path to you" not in seen["text"]
