"""Running the server process under uvicorn."""

from __future__ import annotations

import uvicorn

from myrmica.api.app import create_app
from myrmica.config import Settings
from myrmica.queen.engine import Engine
from myrmica.runtime import Runtime


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(settings, services=[Engine(settings)])


def serve(settings: Settings) -> None:
    app = create_app(build_runtime(settings))
    print(f"myrmica: serving on http://{settings.host}:{settings.port} "
          f"(data in {settings.data_dir}, database {settings.effective_database_url.split('@')[-1]})",
          flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
                access_log=False, lifespan="on")
