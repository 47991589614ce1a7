"""``manage.py <command> --help`` for every command of the app and of the sandbox, in the
site's language: English, or Chinese with ``LANGUAGE_CODE = "zh-hans"``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import get_commands, load_command_class

ROOT = Path(__file__).resolve().parents[2]
APPS = ("laaffic_recall", "laaffic_recall.sandbox")

# command: {language: (the start of its description, an option, the start of its help)}
HELP = {
    "laaffic_sync": {
        "en-us": (
            "Mirror LAAFFIC auto-recall tasks created",
            "--every",
            "Run forever, one sync per period",
        ),
        "zh-hans": ("同步在某个时间窗口内", "--every", "持续运行，每个周期同步一次"),
    },
    "laaffic_audit_verify": {
        "en-us": ("Walk the audit chain", "--no-record", "Do not record this run"),
        "zh-hans": ("遍历取消记录的审计链", "--no-record", "不记录此次运行"),
    },
    "laaffic_demo": {
        "en-us": (
            "Migrate, then",
            "--addrport",
            "Where to serve the site (default 127.0.0.1:8000)",
        ),
        "zh-hans": ("执行迁移，然后", "--addrport", "站点的服务地址（默认 127.0.0.1:8000）"),
    },
    "laaffic_sandbox_seed": {
        "en-us": ("Seed the LAAFFIC sandbox", "--reset", "Empty the sandbox first"),
        "zh-hans": ("用过去几天内创建的重呼任务填充 LAAFFIC 沙箱", "--reset", "先清空沙箱"),
    },
    "laaffic_sandbox_tick": {
        "en-us": ("Advance sandbox tasks one step each", "--fraction", "Share of the unfinished"),
        "zh-hans": ("让每个沙箱任务前进一步", "--fraction", "每一步推进的未完成任务比例"),
    },
}


def squashed(text: str) -> str:
    """The text without its white space: argparse wraps lines, Chinese ones inside words."""
    return "".join(text.split())


def test_every_command_of_the_app_and_the_sandbox_is_checked_here():
    assert {name for name, app in get_commands().items() if app in APPS} == set(HELP)


@pytest.mark.parametrize("language", ["en-us", "zh-hans"])
@pytest.mark.parametrize("name", sorted(HELP))
def test_help_prints_the_usage_and_the_translated_description(name, language, settings, capsys):
    settings.LANGUAGE_CODE = language
    command = load_command_class(get_commands()[name], name)

    with pytest.raises(SystemExit) as exited:
        command.run_from_argv(["manage.py", name, "--help"])

    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: manage.py {name} ")
    description, option, option_help = HELP[name][language]
    assert squashed(description) in squashed(out)
    assert squashed(str(command.help)).startswith(squashed(description))
    assert squashed(str(command.help)) in squashed(out)  # the whole of it
    [line] = [line for line in out.splitlines() if line.lstrip().startswith(option)]
    assert squashed(option_help) in squashed(out[out.index(line) :])


@pytest.mark.slow  # manage.py in a fresh interpreter
def test_laaffic_sync_help_as_an_operator_types_it():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "project.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "laaffic_sync", "--help"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: manage.py laaffic_sync ")
    assert "Mirror LAAFFIC auto-recall tasks created in a time window" in " ".join(
        result.stdout.split()
    )
    assert "--key-id N [N ...]" in result.stdout
    assert result.stderr == ""
