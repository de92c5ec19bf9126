"""The model catalog: namespaced ids, merged listing, per-model admin settings, access."""
