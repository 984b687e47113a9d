"""Detect: photos in (image_io), faces found (faces: MTCNN), 478 landmarks placed on one
(mesh: mediapipe). torch and mediapipe are imported when a detector first runs."""
from .faces import FaceBox, choose_face, detect_faces
from .mesh import FaceLandmarks, FaceTracker, face_landmarks

__all__ = ["FaceBox", "FaceLandmarks", "FaceTracker", "choose_face", "detect_faces", "face_landmarks"]
