"""/api/files: uploads (in one request, or direct with a presigned form), a file's status,
content and cited passages, deleting (docs/documents.md; the core is documents/)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, Response, UploadFile

from omnichat.api.deps import SQL, AppSettings, CurrentUser
from omnichat.api.inputs import BadInput, CheckedRoute
from omnichat.api.openapi import ERROR_REF, error_responses
from omnichat.api.schemas import (
    FileListOut,
    FileOut,
    FileStatus,
    PassageOut,
    UploadFormOut,
    UploadStartIn,
    UploadStartOut,
)
from omnichat.checks import storable
from omnichat.config import Settings
from omnichat.documents import collections, files, uploads
from omnichat.documents.files import FileRow
from omnichat.documents.storage import PresignedPost, Storage, storage_for

router = APIRouter(route_class=CheckedRoute, tags=["files"])
# The local direct upload: no bearer token, the signed single-use form is the credential
# (as an S3 presigned POST's is).
upload_form = APIRouter(route_class=CheckedRoute, tags=["files"])

# Refusals only an upload gives, documented with the shared error shape.
UPLOAD_ERRORS: dict[int | str, dict[str, Any]] = {
    **error_responses(404, 409, 413),  # 404: the collection named, or the upload
    415: {"description": "Not a type of file OmniChat reads", "content": {"application/json": {"schema": ERROR_REF}}},
}
# Images are shown in the chat page; every other type is downloaded, never rendered.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


MULTIPART_OVERHEAD = 64 << 10  # the form's boundaries, part headers and small fields


def body_limits(settings: Settings) -> dict[str, int]:
    """The upload routes' own body limits (api/limits.py): a file of up to max_file_bytes.
    Through the api function in AWS the body travels in a 6 MB Lambda event (base64 for
    a file): there, one-request uploads stay under the import limit; larger files go
    straight to S3 (a direct upload)."""
    one_request = settings.max_file_bytes if not settings.files_bucket else min(settings.max_file_bytes,
                                                                                settings.max_import_bytes)
    return {"/api/files": one_request + MULTIPART_OVERHEAD,
            "/api/files/{upload_id}/upload": settings.max_file_bytes + MULTIPART_OVERHEAD}


def file_storage(settings: AppSettings) -> Storage:
    return storage_for(settings)


Store = Annotated[Storage, Depends(file_storage)]


def file_out(row: FileRow) -> FileOut:
    return FileOut(id=row.id, name=row.name, kind=row.kind, content_type=row.content_type,  # type: ignore[arg-type]
                   size=row.size, status=row.status, progress=row.progress, error=row.error,  # type: ignore[arg-type]
                   pages=row.pages, chunk_count=row.chunk_count, collection_id=row.collection_id,
                   created_at=row.created_at, updated_at=row.updated_at)


def _form_text(name: str, value: str | None) -> str | None:
    if value is not None and not storable(value):
        raise BadInput(f"{name}: not valid text (NUL or a lone surrogate)", "invalid_parameter")
    return value


def _read(upload: UploadFile, settings: Settings) -> bytes:
    return upload.file.read(settings.max_file_bytes + 1)  # one byte more: over the limit is a 413, not a cut


@router.post("/api/files", status_code=201, response_model=FileOut, responses=UPLOAD_ERRORS)
def upload_file(principal: CurrentUser, db: SQL, settings: AppSettings, storage: Store,
                file: Annotated[UploadFile, File(description="The file (its name is kept, cleaned)")],
                collection_id: Annotated[str | None, Form(max_length=36)] = None) -> FileOut:
    """Upload a file in one request (up to the API's payload limit; larger files: a direct
    upload). A document is queued for indexing, an image is ready at once."""
    data = _read(file, settings)
    row = uploads.upload(db, settings, storage, principal, file.filename or "", data,
                         _form_text("collection_id", collection_id))
    return file_out(row)


@router.post("/api/files/uploads", status_code=201, response_model=UploadStartOut, responses=UPLOAD_ERRORS)
def start_upload(body: UploadStartIn, request: Request, principal: CurrentUser, db: SQL, settings: AppSettings,
                 storage: Store) -> UploadStartOut:
    """Start a direct upload: POST the answer's `fields`, then the file, to its `url`
    before `expires_at` (15 minutes), then call /complete."""
    row, form = uploads.start(db, settings, storage, principal, body.name, body.size, body.collection_id)
    return UploadStartOut(file=file_out(row), upload=_form_out(form, request))


def _form_out(form: PresignedPost, request: Request) -> UploadFormOut:
    url = form.url
    if url.startswith("/"):  # this API's own upload route
        url = str(request.base_url).rstrip("/") + url
    return UploadFormOut(url=url, fields=form.fields, expires_at=form.expires_at)


@router.post("/api/files/{file_id}/complete", response_model=FileOut, responses=UPLOAD_ERRORS)
def complete_upload(file_id: str, principal: CurrentUser, db: SQL, settings: AppSettings, storage: Store) -> FileOut:
    """The direct upload is done: its size and type are checked and the file is queued.
    Completing a completed file answers it as it is."""
    return file_out(uploads.complete(db, settings, storage, principal, file_id))


@router.get("/api/files", response_model=FileListOut, responses=error_responses(404))
def list_files(principal: CurrentUser, db: SQL, storage: Store,
               collection_id: Annotated[str | None, Query(max_length=36)] = None,
               status: Annotated[FileStatus | None, Query()] = None,
               limit: Annotated[int, Query(ge=1, le=files.MAX_LISTED)] = 200) -> FileListOut:
    """Your files, newest first; with `collection_id`, the files of a collection you may read."""
    if collection_id is not None:
        collection_id = collections.get_readable(db, principal, collection_id).id
    rows = files.list_files(db, storage, principal, collection_id=collection_id, status=status, limit=limit)
    return FileListOut(files=[file_out(r) for r in rows])


@router.get("/api/files/{file_id}", response_model=FileOut)
def get_file(file_id: str, principal: CurrentUser, db: SQL, storage: Store) -> FileOut:
    return file_out(files.get_readable(db, storage, principal, file_id))


@router.get("/api/files/{file_id}/content", response_class=Response,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "The file's bytes"}})
def get_content(file_id: str, principal: CurrentUser, db: SQL, storage: Store) -> Response:
    """The bytes, with the type sniffed at upload. Images are shown inline (the chat page);
    everything else is an attachment to download."""
    row, data = files.content(db, storage, principal, file_id)
    media_type = row.content_type or "application/octet-stream"
    disposition = "inline" if media_type in INLINE_TYPES else "attachment"
    return Response(data, media_type=media_type, headers={
        "content-disposition": f"{disposition}; filename*=UTF-8''{quote(row.name, safe='')}",
        "x-content-type-options": "nosniff", "cache-control": "private, no-store",
        "content-security-policy": "default-src 'none'; sandbox"})


@router.get("/api/files/{file_id}/passages/{chunk_id}", response_model=PassageOut)
def get_passage(file_id: str, chunk_id: str, principal: CurrentUser, db: SQL, storage: Store) -> PassageOut:
    """A passage an answer cites: its text, page and section, and the passages around it."""
    found = files.passage(db, storage, principal, file_id, chunk_id)
    file = files.get_readable(db, storage, principal, file_id)
    chunk = found.chunk
    return PassageOut(file_id=file.id, file_name=file.name, chunk_id=chunk.id, ordinal=chunk.ordinal,
                      text=chunk.text, page=chunk.page, section=chunk.section, previous=found.previous,
                      next=found.next)


@router.delete("/api/files/{file_id}", status_code=204)
def delete_file(file_id: str, principal: CurrentUser, db: SQL, storage: Store) -> Response:
    """The file, its passages and its stored bytes."""
    files.delete(db, storage, principal, file_id)
    return Response(status_code=204)


@upload_form.post("/api/files/{upload_id}/upload", status_code=204, responses=UPLOAD_ERRORS)
def local_upload(upload_id: str, db: SQL, storage: Store,
                 file: Annotated[UploadFile, File()],
                 key: Annotated[str, Form(min_length=1, max_length=300)],
                 policy: Annotated[str, Form(min_length=1, max_length=4000)],
                 signature: Annotated[str, Form(min_length=1, max_length=128)]) -> Response:
    """The direct upload's target in local mode (in AWS the form goes to S3): the fields
    of POST /api/files/uploads, then the file (`upload_id`: the file's id). Good for one
    upload, until it expires."""
    data = file.file.read(1 << 40)  # the body limit bounds it; the form's own limit is checked
    fields = {"key": key, "policy": policy, "signature": signature}
    for name, value in fields.items():
        _form_text(name, value)
    uploads.accept_local(db, storage, upload_id, fields, data)
    return Response(status_code=204)
