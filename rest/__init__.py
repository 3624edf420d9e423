"""The REST shim: every generation of the curl client, unchanged."""
