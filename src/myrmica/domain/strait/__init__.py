"""The Strait dialect's pure code: job validation, translation to a core definition, trigger rules,
status mapping and the health score (spec/strait.md)."""
