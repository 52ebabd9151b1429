"""Repodata patching: apply patch instructions with conda-index semantics, and load them from
JSON files, patch packages or Python generators. Pure functions, apart from the source loaders."""

from stockyard.patches.apply import (
    CompiledPatches,
    apply_patch_instructions,
    compile_patches,
    patch_record,
    removed_filenames,
)
from stockyard.patches.sources import PatchSource, load_patch_source

__all__ = [
    "CompiledPatches",
    "PatchSource",
    "apply_patch_instructions",
    "compile_patches",
    "load_patch_source",
    "patch_record",
    "removed_filenames",
]
