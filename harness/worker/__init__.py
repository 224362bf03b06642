"""The code that runs inside a sandboxed worker process, and the wire it answers on.

- `main` (run as a script): the worker's roles: reference, candidate, functional.
- `measure`: timing, poisoning, profiling inside the worker.
- `k_abi`: format K's C ABI and the binding that calls a built kernel.
- `wire`: the message format on the result pipe (both sides use it).
- `procguard`: trusted processes close themselves to a candidate of the same uid.
Imports only torch and the standard library (and each other): nothing of the parent's machinery.
"""
