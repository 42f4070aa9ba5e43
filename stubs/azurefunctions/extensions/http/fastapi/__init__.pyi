# The package ships no type information; at run time it re-exports these FastAPI classes (which
# its metaclasses register as the HTTP-stream request and response types), so they are typed as
# FastAPI's own.
from fastapi import Request as Request
from fastapi import Response as Response
from fastapi.responses import FileResponse as FileResponse
from fastapi.responses import HTMLResponse as HTMLResponse
from fastapi.responses import JSONResponse as JSONResponse
from fastapi.responses import PlainTextResponse as PlainTextResponse
from fastapi.responses import RedirectResponse as RedirectResponse
from fastapi.responses import StreamingResponse as StreamingResponse
