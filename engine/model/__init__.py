"""Model: the morphable model file and its evaluator, ICT-FaceKit conversion and install,
the UV atlas layout, the material table, and linear point bases on the surface.
numpy only at import (the add-on's registration path reads the atlas and materials)."""
from .morphable import (FORMAT_NAME, FORMAT_VERSION, MODEL_FILENAME, MODEL_ID, MorphableModel, checksum_path,
                        load_model, model_path)

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "MODEL_FILENAME", "MODEL_ID", "MorphableModel", "checksum_path",
           "load_model", "model_path"]
