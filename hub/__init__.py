"""The kernel archive: row schema, local git-backed store, Hub store, Sakana interop."""
