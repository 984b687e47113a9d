"""Optional nvdiffrast backend (CUDA). Placeholder until the full adapter lands."""


def available() -> bool:
    return False
