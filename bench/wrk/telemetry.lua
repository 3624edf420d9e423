-- Realistic current-client traffic: every run sends installing, configuring and a
-- terminal report (1 in 7 failed), each with its own run id, through POST /telemetry.
-- Also used against the bare baseline handler, so both parse the same bodies.

local apps = {"docker", "homeassistant", "jellyfin", "immich", "nextcloudpi", "pihole",
              "vaultwarden", "adguard", "paperless-ngx", "frigate", "gitea", "nginxproxymanager"}
local run = 0
local step = 3
local id = ""
local app = ""
local prefix = ""

function init(args)
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
  prefix = string.format("%08x", math.random(0, 0x7fffffff))
end

local function body(status, exit_code, error_text, duration)
  return string.format([[{
    "random_id": "%s",
    "execution_id": "%s",
    "type": "lxc",
    "nsapp": "%s",
    "status": "%s",
    "ct_type": 1,
    "disk_size": 8,
    "core_count": 2,
    "ram_size": 2048,
    "os_type": "debian",
    "os_version": "12",
    "pve_version": "8.4.1",
    "method": "default",
    "exit_code": %d,
    "error": "%s",
    "error_category": "%s",
    "install_duration": %d,
    "cpu_vendor": "amd",
    "cpu_model": "AMD EPYC",
    "gpu_vendor": "unknown",
    "gpu_model": "",
    "gpu_passthrough": "unknown",
    "ram_speed": "",
    "arch": "amd64",
    "platform": "pve",
    "has_arm": false,
    "repo_source": "ProxmoxVE",
    "repo_slug": "community-scripts/ProxmoxVE"
}]], id, id, app, status, exit_code, error_text, error_text ~= "" and "dependency" or "", duration)
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
