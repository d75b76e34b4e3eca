"""Device bindings: which elder wears which device, with history."""
