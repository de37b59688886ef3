"""Makes gRPC calls with gRPC C-core (Debian's python3-grpcio), as test/c-core.ts asks.

Reads one JSON object on stdin: {"calls": [call, ...], "concurrency": n}. A call is
{"target", "path", "kind": "unary" | "server_stream" | "bidi", "requests": [base64, ...],
"metadata": [[key, value], ...], "timeout": seconds, "tls": {"ca", "cert", "key"} or absent,
"authority": name for TLS or absent}. Bytes go out as they are (no serializer), so anything,
valid or not, reaches the server. Writes one JSON object: {"outcomes": [{"code", "details",
"seconds", "messages"}, ...]} in the order of the calls; "code" is the status name.
"""

import base64
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import grpc

RAW = dict(request_serializer=lambda b: b, response_deserializer=lambda b: b)
channels = {}
channels_lock = threading.Lock()


def channel_for(call):
    tls = call.get("tls")
    key = (call["target"], json.dumps(tls, sort_keys=True), call.get("authority"))
    with channels_lock:
        if key not in channels:
            if tls:
                read = lambda name: open(tls[name], "rb").read()
                creds = grpc.ssl_channel_credentials(read("ca"), read("key"), read("cert"))
                options = [("grpc.ssl_target_name_override", call.get("authority", "localhost"))]
                channels[key] = grpc.secure_channel(call["target"], creds, options)
            else:
                channels[key] = grpc.insecure_channel(call["target"])
        return channels[key]


def run(call):
    channel = channel_for(call)
    requests = [base64.b64decode(r) for r in call.get("requests", [""])]
    metadata = [tuple(pair) for pair in call.get("metadata", [])]
    timeout = call.get("timeout", 10)
    kind = call.get("kind", "unary")
    started = time.monotonic()
    messages = 0
    try:
        if kind == "unary":
            channel.unary_unary(call["path"], **RAW)(requests[0], metadata=metadata, timeout=timeout)
            messages = 1
        elif kind == "server_stream":
            for _ in channel.unary_stream(call["path"], **RAW)(
                requests[0], metadata=metadata, timeout=timeout
            ):
                messages += 1
        else:
            for _ in channel.stream_stream(call["path"], **RAW)(
                iter(requests), metadata=metadata, timeout=timeout
            ):
                messages += 1
        code, details = "OK", ""
    except grpc.RpcError as err:
        code, details = err.code().name, err.details() or ""
    return {
        "code": code,
        "details": details,
        "seconds": round(time.monotonic() - started, 3),
        "messages": messages,
    }


def main():
    job = json.load(sys.stdin)
    with ThreadPoolExecutor(max_workers=job.get("concurrency", 8)) as pool:
        outcomes = list(pool.map(run, job["calls"]))
    json.dump({"outcomes": outcomes}, sys.stdout)


if __name__ == "__main__":
    main()
