from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ElderSnapshot(_message.Message):
    __slots__ = ("elder_id", "deleted")
    ELDER_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    elder_id: str
    deleted: bool
    def __init__(self, elder_id: _Optional[str] = ..., deleted: _Optional[bool] = ...) -> None: ...
