"""Typed errors. Every message is written for an artist: what happened and what to do."""


class FaceSpaceError(Exception):
    """Base of every error the engine raises on purpose."""


class ModelNotInstalledError(FaceSpaceError):
    pass


class ModelCorruptError(FaceSpaceError):
    pass


class ModelInstallError(FaceSpaceError):
    """Installing the face model failed; nothing was installed."""


class ModelDownloadError(ModelInstallError):
    """The upstream files could not be downloaded (offline, or the server refused)."""


class ChecksumMismatchError(ModelInstallError):
    pass


class MissingSourceFileError(ModelInstallError):
    pass


class ImageError(FaceSpaceError):
    """The photo cannot be read (not an image, empty, truncated, or too small)."""


class NoFaceError(FaceSpaceError):
    """No face was found in the photo."""


class FaceTooSmallError(FaceSpaceError):
    """A face was found but is too small to reconstruct."""


class WeightsUnavailableError(FaceSpaceError):
    """Network weights are not present and cannot be downloaded."""


class Cancelled(FaceSpaceError):
    """The user cancelled the operation."""


class FaceIndexError(FaceSpaceError):
    """A face number was asked for that the photo does not have (--face N)."""


class AttributeFileError(FaceSpaceError):
    """An attribute slider file cannot be read (damaged, not an attribute file, bad values)."""


class AttributeModelMismatchError(AttributeFileError):
    """The attribute slider was learned on a different face model than the one in use."""


class AttributeVersionError(AttributeFileError):
    """The attribute slider file has a format version this FaceSpace cannot read."""


class OutputExistsError(FaceSpaceError):
    """The output folder already holds files; nothing was overwritten."""


class ExportError(FaceSpaceError):
    """Writing the output files failed; no partial output was left behind."""


class VideoError(ImageError):
    """The video (a file, or a folder of frames) cannot be read: missing, not a video, empty."""


class AnimationFileError(FaceSpaceError):
    """An animation file (animation.json, a Live Link Face CSV) cannot be read: damaged,
    not that kind of file, missing columns or bad values."""


class AnimationVersionError(AnimationFileError):
    """The animation file has a format version this FaceSpace cannot read."""


class IdentityWeightsError(WeightsUnavailableError):
    """The identity network (dlib's face-recognition ResNet) is not installed or cannot be
    installed from the source given."""


class IdentityWeightsCorruptError(IdentityWeightsError):
    """The identity network file is damaged, truncated, of another format version, or fails
    its checksum."""


class TrackingError(FaceSpaceError):
    """A video could not be tracked (no face in it, or too few frames with one)."""


class OptionError(FaceSpaceError):
    """An option has a value FaceSpace does not accept (texture size, face number, quality, device)."""


class DeviceUnavailableError(OptionError):
    """The device asked for (cuda, mps) is not on this machine."""


class OutputNotWritableError(ExportError):
    """The output location cannot be written (read-only, no such drive, a file in the way)."""


class InternalError(FaceSpaceError):
    """Something FaceSpace did not expect; the message names the log file with the details."""
