"""`stockyard recipe`: conda recipes generated from upstream metadata and kept current.

Modules, one concern each: `pypi` (the PyPI JSON API, PEP 658 `.metadata` files, ranged
reads), `wheel` (a wheel's file list and dist-info from its tail), `upstream` (one release and
what it says about itself), `metadata` (core metadata), `markers` (environment markers to
selectors), `specs` (PEP 440 to MatchSpec), `names` (PyPI to conda names), `license`, `deps`
(requirements to recipe lines), `model` (the recipe as data), `options` (what `generate pypi`
is asked for), `pypi_recipe` (release to model), `extras`, `render_v1`, `render_v0`,
`rendercheck` (rattler-build render), `sdist_build` and `sdist_build_worker` (PEP 517 metadata
of a dynamic sdist, in an isolated venv in a child process), `description`, `cran_repo` (a
CRAN-like repository over HTTP) and `cran` (R packages), `split` (library splits),
`recipe_file` (round-trip recipe.yaml), `update` (the delta and the flow), `update_apply` (what
changes, format-neutral), `update_v1` and `update_v0` (recipe.yaml and meta.yaml editors),
`update_report`, `lint`, `service` (what the CLI calls).
"""
