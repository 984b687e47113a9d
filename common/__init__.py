"""The bpy-side services that operators/ and ui/ share (they never import each other): the
extension's identity and user folder, the Python dependency folder, the session's face model
and what makes an object a FaceSpace head. Light: nothing here imports torch or mediapipe."""
