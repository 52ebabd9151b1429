"""A channel's license rules guard uploads (the mirror's SPDX policy, issue 9 §2)."""

from __future__ import annotations

from pathlib import Path

from stockyard.cli.main import main
from tests.server.artifacts import make_artifact
from tests.server.uploading import quetz_upload


def test_license_rules_refuse_uploads_and_nothing_is_stored(  # type: ignore[no-untyped-def]
    client, admin_token, settings, tmp_path: Path, capsys
) -> None:
    data = ["--data", settings.data_dir]
    assert (
        main(["channel", "license", "main", "--deny", "GPL-3.0*", "--unknown", "deny", *data]) == 0
    )
    assert '"deny":["GPL-3.0*"]' in capsys.readouterr().out.replace(" ", "")
    assert main(["channel", "license", "main", "--deny", "NOT-A-LICENSE", *data]) == 1
    gpl = make_artifact(tmp_path, "gplpkg", "1.0", license="GPL-3.0-or-later")
    either = make_artifact(tmp_path, "dualpkg", "1.0", license="GPL-3.0-only OR MIT")
    prose = make_artifact(tmp_path, "prosepkg", "1.0", license="Some license we wrote")
    mit = make_artifact(tmp_path, "mitpkg", "1.0", license="MIT License")
    refused = quetz_upload(client, "main", gpl, admin_token)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == "LicenseRefused"
    assert "GPL-3.0-or-later" in refused.json()["message"]
    assert quetz_upload(client, "main", prose, admin_token).status_code == 400  # unknown: deny
    assert quetz_upload(client, "main", either, admin_token).status_code == 201  # MIT side
    assert quetz_upload(client, "main", mit, admin_token).status_code == 201
    listed = client.get("/main/noarch/repodata.json").json()["packages.conda"]
    assert gpl.name not in listed and mit.name in listed
    assert not list((settings.data_path / "channels" / "main").rglob("*.part"))
    assert main(["channel", "license", "main", "--clear", *data]) == 0
    assert quetz_upload(client, "main", gpl, admin_token).status_code == 201
