"""Repodata patching: apply patch instructions with conda-index semantics (pure functions).

Loading instructions from JSON files, patch packages, Python generators or patch YAML lives in
`stockyard.patches.sources` (import it explicitly: it reads artifacts and imports py-rattler and
PyYAML). conda-forge's patch YAML format: `yaml_model` (parsing, schema), `yaml_conditions`,
`yaml_actions`, `yaml_text` (globs, templates) and `yaml_rules` (the compiled, per-name indexed
engine); `instructions_gen` turns patched records into instructions and `diff` compares two
views of a subdir's records.
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
