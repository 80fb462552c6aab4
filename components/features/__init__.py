"""Feature engineering shared by batch stages, streaming and serving."""
