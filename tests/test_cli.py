"""The ``dangqun`` command as a new user runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from dangqun.cli import build_parser

DEMO_START_TIMEOUT_SECONDS = 90  # install-free, but migrating and seeding take a few seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DANGQUN_")}
    env.update(extra)
    return env


@pytest.mark.parametrize(
    "command", [[], ["demo"], ["serve"], ["bot"], ["mock-wechat"], ["migrate"], ["seed-demo"]]
)
def test_every_command_explains_itself(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dangqun", *command, "--help"],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "usage: dangqun" in result.stdout
    assert any("\u4e00" <= ch <= "\u9fff" for ch in result.stdout)  # explained in Chinese


def test_parser_knows_the_commands() -> None:
    parser = build_parser()
    for command in ("demo", "serve", "bot", "mock-wechat", "migrate", "seed-demo"):
        assert parser.parse_args([command]).command == command


def test_bad_setting_is_named_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dangqun", "migrate"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
        env=_clean_env(DANGQUN_MODE="prod"),
    )
    assert result.returncode == 2
    assert "DANGQUN_WECHAT_APP_ID" in result.stderr
    assert "Traceback" not in result.stderr


async def test_demo_runs_everything_in_one_process_and_stops_cleanly(tmp_path: Path) -> None:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "dangqun",
        "demo",
        cwd=tmp_path,
        env=_clean_env(DANGQUN_PORT=str(port)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(DEMO_START_TIMEOUT_SECONDS * 4):
                if process.returncode is not None:
                    break
                try:
                    async with http.get(f"{base}/readyz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.25)
            else:
                raise AssertionError("the demo did not become ready")
            assert process.returncode is None, "the demo exited early"

            # The phone's login flow, through the in-process mock WeChat platform.
            async with http.post(
                f"{base}/mock/dev/login-code", json={"openid": "demo-secretary-xingfuli"}
            ) as response:
                code = (await response.json())["code"]
            async with http.post(f"{base}/api/v1/auth/wx-login", json={"code": code}) as response:
                assert response.status == 200
                person = (await response.json())["person"]
            assert person["roles"][0]["role"] == "secretary"
            async with http.get(f"{base}/mock/app/") as response:
                assert response.status == 200
                assert "text/html" in response.headers["Content-Type"]
            async with http.get(f"{base}/") as response:
                assert str(response.url).endswith("/mock/app/")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    text = output.decode()
    assert process.returncode == 0, text
    for url in ("/mock/app/", "/api/v1", "/api/docs", "/mock/inspector/"):
        assert f"{base}{url}" in text
    assert "已停止" in text
    assert (tmp_path / "var" / "dangqun.sqlite3").is_file()  # data kept under ./var
