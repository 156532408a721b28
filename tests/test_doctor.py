"""desktune doctor's disk check against explicit thresholds, so its outcome does not depend on this machine."""

import json

from desktune.cli import main
from desktune.hardware.doctor import disk_check


def test_disk_check_passes_when_the_threshold_is_met(tmp_path):
    check = disk_check(tmp_path / "runs" / "not-yet", min_free=0)
    assert check.ok and check.needed and f"free at {tmp_path} " in check.found  # the nearest folder that exists


def test_disk_check_fails_with_the_fix_when_the_disk_is_short(tmp_path):
    check = disk_check(tmp_path, min_free=float("inf"))
    assert not check.ok and check.needed and "free some space" in check.fix


def test_doctor_says_ok_exactly_when_no_needed_check_failed(capsys):
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c for c in report["checks"]}
    assert {"device", "memory", "fp32", "disk", "training smoke test"} <= set(checks)
    assert report["ok"] == all(c["ok"] or not c["needed"] for c in checks.values()) == (code == 0)
