"""CEP 27 publish attestations: verify Sigstore bundles for artifacts (`verify`), keep the
accepted ones next to their artifact as `<filename>.v0.sigs` (`store`), and tell who published
an artifact from its certificate (`identity`). See docs/attestations.md."""
