"""The bpy side of the add-on, by role (registration order: registration.py):

    properties.py       every PropertyGroup (head, Edit Face, scene settings, running job)
    mesh.py             building the head object (mesh, UVs, shape keys, stored parameters),
      materials.py, camera.py   its materials and the fitted camera
    sliders.py          the properties' update callbacks and the edits behind the buttons
    jobs.py             the background-thread work (the engine's reconstruction) and its inputs
    *_ops.py            the bpy.types.Operator classes: head_ops, reconstruct_ops, mix_ops,
                        export_ops, prefs_ops

Never imports ui/ (nor ui/ this): both use ../strings.py and ../common/. The engine's heavy
modules (torch, mediapipe) are imported inside execute()/the job only.
"""
