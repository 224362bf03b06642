"""The kernel archive: row schema, local git-backed store, Hub store, Sakana interop.

Modules: `schema` (Row, FEATURES, row_from_verdict, ArchiveError), `store`
(the ArchiveStore Protocol), `archive` (open_store: which store a spec names), `local_store` (LocalStore), `shard_index`
(its dedup/statistics index), `hub_store` (HubStore), `retry` (409/412 conflicts,
jittered backoff), `shards` (parquet shard layout), `compact` (few shards from many,
one tagged commit), `sync` (push/pull), `card` (the dataset card, updated in place;
templates in `hub/templates/`), `sakana` (import/export), `reverify` (judge imported
rows with the harness), `cli` (`kernel-evolve archive`), `exit_codes` (every CLI's
exit codes), `bench` (append/import benchmark).
"""
