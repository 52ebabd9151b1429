"""Bounds on what reading or extracting an untrusted artifact may cost (zip/zstd/bz2 bombs)."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class Limits:
    """How much an artifact may expand to before we refuse it.

    The defaults hold every package published on conda-forge and defaults; raise them only for
    artifacts from a trusted source.
    """

    #: Decompressed size of the metadata (the `info-*.tar.zst` tarball of a `.conda`, or the
    #: `info/` members kept from a `.tar.bz2`).
    max_info_bytes: int = 64 * MiB
    #: Decompressed size of the whole artifact (extract, verify, transmute, and the payload a
    #: `.tar.bz2` reader must skip when `info/` is stored last).
    max_total_bytes: int = 16 * GiB
    #: Number of tar members in the whole artifact.
    max_members: int = 1_000_000
    #: `info/icon.png` larger than this is left out of the metadata (not an error).
    max_icon_bytes: int = 1 * MiB
    #: `info/recipe/meta.yaml` / `recipe.yaml` larger than this are left out (not an error).
    max_recipe_bytes: int = 1 * MiB
    #: Decompressed bytes per compressed byte a payload stream may reach beyond
    #: `ratio_allowance`. Real payloads compress 2:1 to 20:1; bombs are runs of zeros
    #: (about 30,000:1 in zstd, 1,000,000:1 in bzip2), which this stops after `ratio_allowance`
    #: bytes instead of after `max_total_bytes` (a 1.8 kB bzip2 file expands to 2 GiB).
    max_ratio: int = 1000
    #: Any payload may decompress to this much whatever its ratio (small packages holding a
    #: large, very compressible file).
    ratio_allowance: int = 64 * MiB

    def stream_budget(self, compressed_size: int) -> int:
        """How far a payload stream of `compressed_size` bytes may decompress."""
        return min(self.max_total_bytes, self.ratio_allowance + self.max_ratio * compressed_size)


DEFAULT_LIMITS = Limits()
