"""Identity features: dlib's face-recognition ResNet in PyTorch (offline, public-domain
weights) and facenet-pytorch's FaceNet behind one IdentityEncoder interface, with dlib's
5-point face-chip alignment as a differentiable resampling. See docs/identity.md.

Modules: dlib_format (reads dlib's .dat), resnet (the network), weights (convert, install,
verify), align (chips, mediapipe -> 5 points), encoder (IdentityEncoder)."""
