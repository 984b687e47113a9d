"""Face-space editing (Blanz & Vetter 1999): measurement sliders, learned attributes,
caricature, symmetry, face-space guard and region mixing. Blender-free; see docs/editing.md."""
