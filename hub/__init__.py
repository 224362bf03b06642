"""The kernel archive: row schema, local git-backed store, Hub store, Sakana interop.

Modules: `schema` (Row, FEATURES, row_from_verdict, ArchiveError), `store`
(ArchiveStore Protocol, open_store), `local_store` (LocalStore), `hub_store`
(HubStore), `sync` (push/pull), `card` (dataset card), `sakana` (import/export),
`reverify` (judge imported rows with the harness), `cli` (`kernel-evolve archive`),
`bench` (append/import benchmark).
"""
