"""One channel's content never stops the server: start-up publishes each channel in isolation,
and channels owed a publish are listed by /health/ready while the rest is served."""

from __future__ import annotations

from stockyard.catalog import Catalog
from stockyard.config import Settings
from stockyard.server.channels import bootstrap, create_channel
from stockyard.types.policy import ChannelPolicy


def test_a_channel_that_cannot_publish_does_not_stop_start_up(settings: Settings) -> None:
    bootstrap(settings)
    catalog = Catalog.open(settings.catalog_url)
    try:
        create_channel(settings, catalog, "broken")
        broken = catalog.require_channel("broken")
        # A patch source that has gone missing: publishing this channel now fails.
        policy = ChannelPolicy(patch_source="/nonexistent/patches.json")
        catalog.set_channel_policy(broken.id, policy)
        catalog.mark_dirty(broken.id, "noarch")
    finally:
        catalog.close()
    result = bootstrap(settings)
    assert set(result.failed_channels) == {"broken"}
    assert "patches.json" in result.failed_channels["broken"]
    assert {c.name for c in result.channels} == {"main", "broken"}


def test_ready_lists_channels_owed_a_publish(client, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    main = catalog.require_channel("main")
    assert client.get("/health/ready").json()["channels_owing_publish"] == []
    catalog.mark_dirty(main.id, "noarch")
    response = client.get("/health/ready")
    assert response.status_code == 200  # the other channels are served
    assert response.json()["channels_owing_publish"] == ["main"]
    catalog.set_channel_files_dirty(main.id, True)
    assert client.get("/health/ready").json()["channels_owing_publish"] == ["main"]
    # Still served as last published.
    assert client.get("/main/noarch/repodata.json").status_code == 200


def test_repodata_max_age_is_a_channel_setting(client, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    from stockyard.server.channels import set_repodata_max_age

    url = "/main/noarch/repodata.json"
    assert client.get(url).headers["cache-control"] == "public, max-age=30"  # the settings'
    set_repodata_max_age(catalog, "main", 0)
    client.app.state.stockyard.channels.forget("main")  # another process would wait `ttl`
    assert client.get(url).headers["cache-control"] == "public, max-age=0"
    set_repodata_max_age(catalog, "main", None)
    client.app.state.stockyard.channels.forget("main")
    assert client.get(url).headers["cache-control"] == "public, max-age=30"
