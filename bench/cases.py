"""The load: what each case sends, as wrk scripts, and the countries it sends."""

import json

import pycountry

# wrk's connections, the same in every case.
CONNECTIONS = 32

CASES = {
    "get": "GET /country/{code} (random codes)",
    "list": "GET /countries?limit=20",
    "write": "POST then DELETE /country (writes)",
}

LUA_DONE = """
done = function(summary, latency, requests)
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, '
    .. '"errors": %d, "bad_status": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def countries() -> list[dict[str, str | None]]:
    """Every ISO 3166-1 country, as the API returns it."""
    return [
        {
            "code": c.alpha_2,
            "alpha_3": c.alpha_3,
            "numeric_code": c.numeric,
            "common_name": c.name,
            "official_name": getattr(c, "official_name", None),
        }
        for c in pycountry.countries
    ]


def lua_script(case: str, *, code_only_bodies: bool) -> str:
    """The wrk script for `case`, with the country list written in.

    `code_only_bodies`: POST only the code (alembic-stuff completes the rest from ISO 3166);
    otherwise the whole country.
    """
    data = countries()
    if case == "get":
        codes = ", ".join(f'"{c["code"]}"' for c in data)
        return f"""
local codes = {{{codes}}}
request = function()
  return wrk.format("GET", "/country/" .. codes[math.random(#codes)])
end
{LUA_DONE}"""
    if case == "list":
        return f'wrk.path = "/countries?limit=20"\n{LUA_DONE}'
    # Writes: each wrk thread has one connection and its own share of the codes, and
    # alternates POST and DELETE of one code, so every request succeeds.
    bodies = [{"code": c["code"]} if code_only_bodies else c for c in data]
    entries = ", ".join(
        f"{{code = {json.dumps(c['code'])}, body = {json.dumps(json.dumps(b))}}}"
        for c, b in zip(data, bodies, strict=True)
    )
    return f"""
local countries = {{{entries}}}
local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end
function init(args)
  mine = {{}}
  for i, c in ipairs(countries) do
    if (i % {CONNECTIONS}) == (id - 1) then table.insert(mine, c) end
  end
  answered = 0
end
-- The step comes from the responses, not from calls to request(): wrk calls it once more
-- than it sends, to look at the request, and a counter kept here would drift by one.
request = function()
  local c = mine[math.floor(answered / 2) % #mine + 1]
  if answered % 2 == 0 then
    return wrk.format("POST", "/country", {{["Content-Type"] = "application/json"}}, c.body)
  end
  return wrk.format("DELETE", "/country/" .. c.code)
end
response = function(status, headers, body)
  answered = answered + 1
end
{LUA_DONE}"""
