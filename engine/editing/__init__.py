"""Face-space editing (Blanz & Vetter 1999): measurement sliders, learned attributes,
caricature, symmetry, face-space guard and region mixing. Blender-free; see docs/editing.md."""
from .attributes import Attribute, learn_attribute, load_attribute
from .caricature import caricature, mirror_identity, symmetrize
from .compose import EditResult, EditState, apply_edits
from .directions import apply_measurement, edit_measurements, measurement_directions
from .guard import bound_for_percentile, clamp_to_bound, face_space_level, identity_norm
from .measure import MEASUREMENTS
from .measure import NAMES as MEASUREMENT_NAMES
from .measure import measure, measurement_set
from .mixing import AREA_LABELS, AREAS, MixResult, area_masks, mix_heads

__all__ = ["Attribute", "learn_attribute", "load_attribute", "caricature", "mirror_identity",
           "symmetrize", "EditState", "EditResult", "apply_edits", "apply_measurement",
           "edit_measurements", "measurement_directions", "bound_for_percentile",
           "clamp_to_bound", "face_space_level", "identity_norm", "MEASUREMENTS",
           "MEASUREMENT_NAMES", "measure", "measurement_set", "AREAS", "AREA_LABELS",
           "MixResult", "area_masks", "mix_heads"]
