-- reportInstall through GraphQL: the same realistic runs as telemetry.lua, three reports
-- each, as typed mutation input (variables), so the parser and validation caches apply.

local apps = {"docker", "homeassistant", "jellyfin", "immich", "nextcloudpi", "pihole",
              "vaultwarden", "adguard", "paperless-ngx", "frigate", "gitea", "nginxproxymanager"}
local run = 0
local step = 3
local id = ""
local app = ""
local prefix = ""

local query = "mutation($i: InstallReportInput!) { reportInstall(input: $i) { " ..
              "... on ReportAccepted { runId duplicate } ... on ReportRejected { errors { field code } } } }"

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
  prefix = string.format("%08x", math.random(0, 0x7fffffff))
end

local function body(status, exit_code, error_text, duration)
  return string.format([[{"query": "%s", "variables": {"i": {
    "randomId": "%s", "executionId": "%s", "type": "lxc", "app": "%s", "status": "%s",
    "ctType": 1, "diskGb": 8, "cores": 2, "ramMb": 2048, "osType": "debian", "osVersion": "12",
    "pveVersion": "8.4.1", "method": "default", "exitCode": %d, "error": "%s",
    "errorCategory": "%s", "durationSeconds": %d, "cpuVendor": "amd", "cpuModel": "AMD EPYC",
    "gpuVendor": "unknown", "gpuModel": "", "gpuPassthrough": "unknown", "ramSpeed": "",
    "arch": "amd64", "platform": "pve", "hasArm": false, "repoSource": "ProxmoxVE",
    "repoSlug": "community-scripts/ProxmoxVE"}}}]], query, id, id, app, status, exit_code,
    error_text, error_text ~= "" and "dependency" or "", duration)
end

request = function()
  step = step + 1
  if step > 3 then
    step = 1
    run = run + 1
    id = string.format("%s-%04x-4%03x-a%03x-%012x", prefix, run % 65536, math.random(0, 4095),
                       math.random(0, 4095), run)
    app = apps[math.random(1, #apps)]
  end
  local payload
  if step == 1 then
    payload = body("installing", 0, "", 0)
  elseif step == 2 then
    payload = body("configuring", 0, "", 0)
  elseif run % 7 == 0 then
    payload = body("failed", 100, "exit_code=100 | APT: Package manager error | at line 57: apt-get install -y libfoo", 95)
  else
    payload = body("success", 0, "", 120 + run % 300)
  end
  return wrk.format("POST", wrk.path, {["Content-Type"] = "application/json"}, payload)
end
