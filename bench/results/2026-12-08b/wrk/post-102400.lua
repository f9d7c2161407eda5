-- POST a body of 102400 bytes on every request
wrk.method = "POST"
wrk.body = string.rep("x", 102400)
wrk.headers["Content-Type"] = "application/octet-stream"
