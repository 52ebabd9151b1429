"""Render and write every published file of a channel: repodata, shards, channeldata, HTML."""
