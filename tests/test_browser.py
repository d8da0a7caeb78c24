"""Open a rendered readout from disk in headless Chromium: no console errors, no network, numbers visible.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser`` installs them; ``make test``
and ``.ci/run`` call it). Without them the test fails rather than skips: CI must run it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
    "--window-size=1280,2400",
)


def _driver(profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not chromedriver:
        pytest.fail("chromium and chromedriver are not installed; run `make browser` (Debian packages chromium, chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile}")
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(chromedriver), options=opts)


def test_readout_opens_offline_in_a_real_browser(demo_readout, tmp_path):
    """The demo's readout (the shared ``uplift demo`` run), opened from disk."""
    from selenium.webdriver.common.by import By

    _, rendered = demo_readout
    results = json.loads(rendered.results.read_text())
    driver = _driver(tmp_path / "profile")
    try:
        url = rendered.html.resolve().as_uri()
        driver.get("about:blank")
        driver.get_log("performance")  # drain Chromium's own start-up requests (new-tab page)
        driver.get_log("browser")
        driver.get(url)
        assert driver.title.startswith("Readout:")
        text = driver.find_element(By.TAG_NAME, "body").text
        # Console: no errors (warnings from Chromium's own startup are not the page's).
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
        # Network: every request the page made is the file itself or embedded data.
        urls = []
        for entry in driver.get_log("performance"):
            msg = json.loads(entry["message"])["message"]
            if msg["method"] == "Network.requestWillBeSent":
                urls.append(msg["params"]["request"]["url"])
        assert urls, "the performance log recorded no request at all"
        leaving = [u for u in urls if not (u.startswith("file://") or u.startswith("data:"))]
        assert not leaving, leaving
        # The headline numbers are visible text.
        row = next(x for x in results["metrics"] if x["metric"] == "conversion")
        assert f"{100 * row['abs_effect']:+.2f} pp" in text
        assert f"{100 * row['mean_arm']:.2f}%" in text
        assert "Sample-ratio mismatch" in text
        # Every embedded image decoded (naturalWidth > 0).
        widths = driver.execute_script("return Array.from(document.images).map(i => i.naturalWidth)")
        assert widths and all(w > 0 for w in widths), widths
        shot = tmp_path / "readout.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()


def test_chinese_readout_opens_with_its_headings_and_every_image(zh_readout, tmp_path):
    """The demo's readout in Simplified Chinese (``--lang zh``), opened from disk: Chinese headings
    and the page's language, every image decoded, no console error, nothing fetched."""
    from selenium.webdriver.common.by import By

    _, rendered = zh_readout
    results = json.loads(rendered.results.read_text(encoding="utf-8"))
    driver = _driver(tmp_path / "profile")
    try:
        driver.get("about:blank")
        driver.get_log("browser")
        driver.get(rendered.html.resolve().as_uri())
        assert driver.title.startswith("实验读出报告：")
        assert driver.execute_script("return document.documentElement.lang") == "zh-CN"
        headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "h1, h2")]
        for expected in ("决策", "健康检查：分组是否可信？", "主要指标", "护栏指标", "漏斗", "细分客群", "财务：增量价值",
                         "目标客户筛选：下一步向谁推荐", "方法附录"):
            assert expected in headings, (expected, headings)
        text = driver.find_element(By.TAG_NAME, "body").text
        row = next(x for x in results["metrics"] if x["metric"] == "conversion")
        assert f"{100 * row['abs_effect']:+.2f} 个百分点" in text
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(images) >= 5 and all(c and w > 0 and h > 0 for c, w, h in images), images
        shot = tmp_path / "readout-zh.png"
        driver.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000
    finally:
        driver.quit()
