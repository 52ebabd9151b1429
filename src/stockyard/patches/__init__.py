"""Repodata patching: apply patch instructions with conda-index semantics (pure functions).

Loading instructions from JSON files, patch packages or Python generators lives in
`stockyard.patches.sources` (import it explicitly: it reads artifacts and imports py-rattler).
"""

from stockyard.patches.apply import (
    CompiledPatches,
    apply_patch_instructions,
    compile_patches,
    patch_record,
    patch_removed_filenames,
)

__all__ = [
    "CompiledPatches",
    "apply_patch_instructions",
    "compile_patches",
    "patch_record",
    "patch_removed_filenames",
]
