"""`stockyard mirror UPSTREAM TARGET`: a filtered, verified, resumable copy of a conda channel.

The pieces, in the order a run uses them:

- `fetch`: HTTP(S) and local reads with retries, backoff, conditional requests and a slow-drip
  guard; `state`: what the last run learned (ETags, cached documents) under the target's
  `.stockyard/mirror/`;
- `upstream`: upstream's records per subdir, from CEP 16 shards, `repodata.json.zst` or
  `repodata.json` (checked: every filename a bare artifact name, every hash well formed);
- `license_policy` and `filters`: which records the mirror holds, and why (`--explain`);
- `plan`: what changes in the target (added, removed, bytes);
- `download`: parallel, resumable, sha256/size-checked downloads, then the same artifact
  verification uploads get;
- `patching`: a patch source that turns the target's own records into upstream's patched ones;
- `publish`: one `ChangeSet` through `stockyard.index.commit.ChannelCommit`, the path every way
  into a channel takes;
- `run`: the orchestration and its summary.
"""
