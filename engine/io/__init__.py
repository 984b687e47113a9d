"""IO: what FaceSpace writes and reads outside Blender (OBJ/MTL/PNG, glTF, params.json)."""
