"""An OpenAI-compatible chat server that answers at once (FastAPI + uvicorn), for timing clients.

It does no inference: every ``POST /v1/chat/completions`` gets the same short completion, so
what a benchmark measures is the client's own cost per request. ``GET /v1/models`` lists one
model; ``GET /stats`` says how many chat requests arrived (to check a resumed run sent none).

    python benchmarks/api_peers/instant_server.py --port 8123
"""

from __future__ import annotations

import argparse
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

MODEL = "instant"
REPLY = "我不能帮助你做这件事，但我可以提供一些安全的建议。"

app = FastAPI()
counter = {"chat": 0}


@app.get("/v1/models")
async def models() -> JSONResponse:
    return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "bench"}]})


@app.get("/stats")
async def stats() -> JSONResponse:
    return JSONResponse(counter)


@app.post("/v1/chat/completions")
async def chat(request: Request) -> JSONResponse:
    await request.body()  # read it, as a real server does
    counter["chat"] += 1
    return JSONResponse(
        {
            "id": f"chatcmpl-{counter['chat']}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": MODEL,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": REPLY},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 12, "completion_tokens": 16, "total_tokens": 28},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
