"""One thin entry point per DVC stage: read params, call components, write outs."""
