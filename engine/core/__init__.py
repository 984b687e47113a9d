"""Core: typed errors, per-user paths, the torch device, the per-model cache, and the one
camera / rotation convention. Imports nothing from the rest of the engine."""
