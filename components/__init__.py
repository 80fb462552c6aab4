"""churnguard library: every piece of pipeline logic lives here; stage scripts stay thin."""
