"""Shared fixtures. Expensive artifacts (trained models, brokers) are session-scoped."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


# --- real Mosquitto on a free loopback port --------------------------------------------------
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import pytest  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Broker:
    host: str
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"


def start_mosquitto(directory: Path, extra_config: str = "", allow_anonymous: bool = True) -> Broker:
    """Start Debian's mosquitto on 127.0.0.1 with `extra_config` appended; wait until it listens."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        pytest.fail("mosquitto is not installed: apt-get install -y mosquitto (.ci/run does this)")
    port = free_port()
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        f"allow_anonymous {'true' if allow_anonymous else 'false'}\n"
        "persistence false\n"
        "max_queued_messages 100000\n"
        "max_inflight_messages 0\n"
        + extra_config
    )
    return Broker("127.0.0.1", port, run_mosquitto(conf, port, directory / "mosquitto.log"))


def run_mosquitto(config: Path, port: int, log_path: Path) -> subprocess.Popen:
    """Start Debian's mosquitto with `config`; return once it listens on 127.0.0.1:`port`."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    log = open(log_path, "w")  # noqa: SIM115  (the broker's stdout while it runs)
    proc = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mosquitto exited: {log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("mosquitto did not start listening within 10 s")


def stop_mosquitto(broker: Broker) -> None:
    broker.process.terminate()
    try:
        broker.process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        broker.process.kill()


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory):
    """One anonymous Mosquitto for the session; tests use distinct topic roots or client ids."""
    broker = start_mosquitto(tmp_path_factory.mktemp("mosquitto"))
    yield broker
    stop_mosquitto(broker)


@pytest.fixture
def fresh_mosquitto(tmp_path):
    """A Mosquitto of the test's own, for tests that stop or reconfigure it."""
    broker = start_mosquitto(tmp_path / "mosquitto")
    yield broker
    stop_mosquitto(broker)


# --- real PostgreSQL on a free loopback port (tests/postgres.py) ---------------------------------
from tests.postgres import make_store  # noqa: E402,F401  (fixtures)
from tests.postgres import pg_url  # noqa: E402,F401
from tests.postgres import postgres  # noqa: E402,F401

# --- fixtures shared by several test modules ------------------------------------------------------

@pytest.fixture
def rig(mosquitto, tmp_path):
    """A controller-side DeviceHub on the session broker, with virtual Linux boards on demand."""
    from tests.device_rig import Rig

    rig = Rig(mosquitto.url, tmp_path)
    yield rig
    rig.close()


@pytest.fixture(scope="session")
def shared_artifacts(tmp_path_factory) -> Path:
    """One artifact store for the dashboard worlds: the second world reuses the first one's build."""
    return tmp_path_factory.mktemp("dashboard-artifacts") / "artifacts"


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM
    from tests.browser import CHROMIUM_ARGS

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()


# --- real firmware on emulated boards (issue 13) -----------------------------------------------------

@pytest.fixture(scope="session")
def firmware_cache(tmp_path_factory) -> Path:
    """One TFLM library cache for every firmware test: the cold build (about a minute) happens once per
    session, or never when ORIGAMI_TEST_FIRMWARE_CACHE names a cache kept between sessions (e.g. CI's)."""
    kept = os.environ.get("ORIGAMI_TEST_FIRMWARE_CACHE")
    return Path(kept) if kept else tmp_path_factory.mktemp("firmware-cache")


@pytest.fixture(scope="session")
def ota_key():
    """The controller key the device-core image trusts (compiled into it)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def ota_image(firmware_cache, ota_key, tmp_path_factory):
    """The emulated Nano 33's device-core image (FULLY_CONNECTED in its op resolver), built once."""
    from tests.firmware_rig import skip_without_firmware_tools

    skip_without_firmware_tools()
    from controller.firmware.device_image import build_device_image

    return build_device_image("nano33ble", ota_key.public_key(), cache_dir=firmware_cache,
                              work_dir=tmp_path_factory.mktemp("ota-image") / "fw")


@pytest.fixture
def nginx(tmp_path):
    """Debian's nginx serving `tmp_path/www` on a free loopback port (tests/static_http.py)."""
    from tests.static_http import start_nginx

    server = start_nginx(tmp_path / "www", tmp_path / "nginx")
    yield server
    server.stop()
