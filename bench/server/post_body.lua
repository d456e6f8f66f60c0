-- wrk: POST one binary body over and over (KServe v2 binary tensor
-- extension). BODY = file with JSON header + binary tail, WRK_PATH = URL
-- path, IHCL = Inference-Header-Content-Length. wrk adds Content-Length.
local f = assert(io.open(os.getenv("BODY"), "rb"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.path = os.getenv("WRK_PATH")
wrk.body = body
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] = os.getenv("IHCL")
