"""Real headless Chromium (Debian's chromium + chromedriver, driven by Selenium) and a
real admin server process, for the browser tests. Selenium Manager never downloads
anything: the driver and the browser are the Debian packages'."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.path.exists(path):
            raise RuntimeError(f"{path} is missing: scripts/setup.sh installs Debian's chromium "
                               "and chromium-driver")
    profile = tempfile.mkdtemp(prefix="pbx-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                 f"--window-size={width},{height}", "--lang=ru"):
        options.add_argument(flag)
    # What the seeds' users have: a Russian browser (the admin then speaks Russian).
    options.add_experimental_option("prefs", {"intl.accept_languages": "ru,en"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def admin_config(tmp: Path, database_url: str, redis_url: str = "redis://127.0.0.1:6379/0",
                 api_port: int | None = None, api_token: str | None = None, extra: str = "") -> tuple[Path, int]:
    port = free_port()
    config = tmp / "admin.toml"
    config.write_text(
        f'[general]\ndata_dir = "{tmp}"\n[database]\nurl = "{database_url}"\n'
        f'[redis]\nurl = "{redis_url}"\n'
        f'[admin]\nlisten = "tcp:{port}:interface=127.0.0.1"\nsecret_key = "{secrets.token_urlsafe(32)}"\n'
        f'public_url = "http://127.0.0.1:{port}"\n'
        + (f'[api]\nlisten = "tcp:{api_port}:interface=127.0.0.1"\ntoken = "{api_token}"\n' if api_port else "")
        + extra)
    return config, port


@contextlib.contextmanager
def running_admin(tmp: Path, database_url: str, **kwargs):
    """``pbx-crm admin`` as a subprocess; yields its base URL."""
    config, port = admin_config(tmp, database_url, **kwargs)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PBX_CRM_")}
    log = open(tmp / "admin.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "pbx_daemon.cli", "--config", str(config), "admin"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the admin did not start: {(tmp / 'admin.log').read_text()[-2000:]}")
                time.sleep(0.1)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def login(driver, base: str, login_name: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/login")
    driver.find_element(By.NAME, "login").send_keys(login_name)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver, lambda d: "/login" not in d.current_url, 10, "the login to go through")


def wait(driver, predicate, timeout: float, what: str):
    """``predicate(driver)`` once truthy, polled every 50 ms. An element that is missing or
    went stale meanwhile (the page is loading its next state) is "not yet", not a failure."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05,
                             ignored_exceptions=(NoSuchElementException,
                                                 StaleElementReferenceException)).until(predicate)
    except Exception as e:
        shot = screenshot(driver, f"failed-{int(time.time())}")
        raise AssertionError(f"timed out waiting for {what} (screenshot {shot})") from e


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def redis_answers(url: str = "redis://127.0.0.1:6379/0") -> None:
    """The browser tests use a real Redis: fail (not skip) with a clear message when none."""
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=2).ping()
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"no Redis answers at {url} ({e}); scripts/test.sh starts one") from None
