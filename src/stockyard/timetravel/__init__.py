"""As-of channels: `/<channel>/as-of/<T>/<subdir>/repodata.json`, the channel as it was at T."""

from stockyard.timetravel.as_of import AS_OF_SEGMENT, AsOfView, parse_as_of, render_as_of

__all__ = ["AS_OF_SEGMENT", "AsOfView", "parse_as_of", "render_as_of"]
