"""Detect: photos in (image_io), faces found (faces: MTCNN), 478 landmarks placed on one
(mesh: mediapipe); locate: the face asked for at every yaw (MediaPipe's
full-range detector when MTCNN or the mesh fails). torch and mediapipe are imported when a detector first runs."""
from .faces import FaceBox, choose_face, detect_faces
from .locate import Located, locate_face, mediapipe_faces
from .mesh import FaceLandmarks, FaceTracker, face_landmarks

__all__ = ["FaceBox", "FaceLandmarks", "FaceTracker", "Located", "choose_face", "detect_faces", "face_landmarks",
           "locate_face", "mediapipe_faces"]
