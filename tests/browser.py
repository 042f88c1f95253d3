"""Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol, for
tests that look at a page as a browser renders it.

    with Chromium.start(tmp_path / "profile", timezone="Asia/Kolkata") as browser:
        browser.open("http://127.0.0.1:8000/index.html", width=400, height=900)
        browser.evaluate("document.title")
        browser.screenshot(Path("shot.png"))

The protocol goes over a pipe (`--remote-debugging-pipe`: fd 3 in, fd 4 out, one JSON
message per NUL-terminated chunk), so no port is opened and no WebSocket library is
needed. Every wait has a deadline: a browser that hangs fails the test, never the run.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

# The flags that work in this sandbox: no GPU, no sandbox (root), nothing phoning home.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
TIMEOUT = 30.0  # seconds for any one answer or page load


class BrowserError(Exception):
    pass


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    def __init__(self, process: subprocess.Popen[bytes], to_browser: int, from_browser: int):
        self._process = process
        self._out = to_browser
        self._in = from_browser
        self._buffer = b""
        self._next_id = 0
        self._session = ""

    @classmethod
    def start(cls, profile: Path, *, timezone: str, lang: str = "en-GB") -> Chromium:
        """A browser with a fresh profile in `profile`, whose clock reads in `timezone`."""
        binary = chromium_path()
        if binary is None:
            raise BrowserError("chromium is not installed")
        their_in, our_out = os.pipe()
        our_in, their_out = os.pipe()

        def pipes_as_fd_3_and_4() -> None:
            # Out of the way first: either pipe may itself be fd 3 or 4.
            high_in = fcntl.fcntl(their_in, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(their_out, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", f"--lang={lang}", "about:blank"],
            pass_fds=(3, 4),  # kept open past the preexec function
            preexec_fn=pipes_as_fd_3_and_4,
            env={**os.environ, "TZ": timezone, "LANGUAGE": lang},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(their_in)
        os.close(their_out)
        browser = cls(process, our_out, our_in)
        try:
            target = browser.call("Target.createTarget", url="about:blank")["targetId"]
            attached = browser.call("Target.attachToTarget", targetId=target, flatten=True)
            browser._session = attached["sessionId"]
            browser.call("Page.enable")
            # --lang sets the interface's language; pages see this one (Intl, navigator).
            browser.call("Emulation.setLocaleOverride", locale=lang)
        except BaseException:
            browser.close()
            raise
        return browser

    def __enter__(self) -> Chromium:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise BrowserError("chromium did not answer in time")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed the pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command (to the page once attached) and return its result."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self._session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:  # events arrive in between; they are not needed
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (awaited if a promise)."""
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=mobile,
        )

    def open(self, url: str) -> None:
        """Load `url` and wait until the page and its script have run."""
        answer = self.call("Page.navigate", url=url)
        if answer.get("errorText"):
            raise BrowserError(f"{url}: {answer['errorText']}")
        deadline = time.monotonic() + TIMEOUT
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise BrowserError(f"{url}: did not finish loading")
            time.sleep(0.05)

    def press_tab(self) -> None:
        for kind in ("keyDown", "keyUp"):
            self.call(
                "Input.dispatchKeyEvent", type=kind, key="Tab", code="Tab", windowsVirtualKeyCode=9
            )

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            if self._process.poll() is None:
                os.write(
                    self._out, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0"
                )
                self._process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()
        finally:
            for fd in (self._out, self._in):
                with contextlib.suppress(OSError):
                    os.close(fd)
