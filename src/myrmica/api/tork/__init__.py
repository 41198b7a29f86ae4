"""The Tork dialect under ``/tork`` (spec/tork.md): translation of bodies, ids, states, shapes and errors."""
