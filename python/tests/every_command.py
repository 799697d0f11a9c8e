"""Every command method the reference does not name, called with typed arguments as a user
would write them. Type-checked by test_stubs.py (mypy --strict --disallow-any-expr); not run."""

from pathlib import Path
from typing import List

from maqet import Maqet


def every_other_command(m: Maqet) -> List[object]:
    return [
        m.cleanup(dry_run=True),
        m.clone("web", "web-copy", linked=True),
        m.console("web"),
        m.cp("web:/etc/hostname", "hostname.txt", recursive=False, force=True, max_bytes="1M"),
        m.doctor(fix=False),
        m.events("web", follow=True, until="SHUTDOWN", timeout=5.0),
        m.exec("web", ["uname", "-a"], timeout=30, env=["LANG=C"], cwd="/tmp", input="stdin.txt"),
        m.exec("web", "true"),
        m.ssh("web", ["uptime"]),
        m.ssh_config("web"),
        m.storage_info("web"),
        m.wait("web", serial="login:", timeout=120),
        m.wait("web", state="running", agent=True, tcp=22, ssh=False),
        m.wait("web", screen_text="login:", region="0,0,640,100", timeout="2m"),
        m.wait("web", screen_match=Path("menu.json"), threshold=0.9, record=Path("shots")),
        m.screen_text("web", region="0,0,640,100"),
        m.screen_find("web", Path("needles/menu.png"), threshold=0.96),
        m.qmp_mouse_move("web", 100, 200),
        m.qmp_mouse_click("web", button="right", double=True, hold="ctrl"),
        m.qmp_mouse_scroll("web", -3),
        m.config_schema(),
        m.config_validate(["base.yaml", Path("disks.yaml")]),
        m.guest_info("web"),
        m.image_ls(),
        m.image_prune(),
        m.image_pull("https://example.org/debian.qcow2", sha256="0" * 64),
        m.image_rm("debian", force=True),
        m.qmp_run("web", "query-block", allow_dangerous=False),
        m.qmp_run("web", "screendump", filename="/tmp/web.ppm"),
        m.state_rebuild(),
        m.storage_attach("data", Path("data.qcow2"), "web.yaml"),
        m.storage_orphaned(),
        m.storage_verify("web"),
        m.call("start", vm="web", ephemeral=True),
    ]
