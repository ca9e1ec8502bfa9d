-- Argo CD health check of a ballast.dev ClusterPolicy (docs/argocd.md). The first match
-- wins:
--   Progressing  no status or no Ready condition yet (no controller serving the
--                cluster has seen it), or status.observedGeneration is behind
--                metadata.generation
--   Degraded     Stalled=True
--   Progressing  Ready=False and Reconciling=True (retrying)
--   Degraded     Ready=False
--   Healthy      Ready=True
--   Progressing  Ready=Unknown
-- The message is the Ready (or Stalled) condition's, and names the fallback state when
-- it is not Available; that never changes the health: falling back to On-Demand is
-- Ballast doing its job.
-- Argo CD runs checks from argocd-cm with Lua's base and table libraries only, so
-- this script uses no string functions.

local function condition(status, type)
  if status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type then
      return c
    end
  end
  return nil
end

-- text is what a condition says: its message, or its reason when it has none.
local function text(c)
  if c.message ~= nil and c.message ~= "" then
    return c.message
  end
  return c.reason or ""
end

local function health(status, message)
  return {status = status, message = message}
end

local function waiting()
  return health("Progressing", "Waiting for a Ballast controller serving cluster " .. obj.spec.cluster.name ..
    " to report on this ClusterPolicy")
end

local function evaluate()
  local status = obj.status
  if status == nil then
    return waiting()
  end
  local generation = obj.metadata.generation
  if status.observedGeneration ~= nil and generation ~= nil and status.observedGeneration < generation then
    return health("Progressing", "Waiting for the Ballast controller to observe generation " .. generation ..
      " (status is of generation " .. status.observedGeneration .. ")")
  end
  local stalled = condition(status, "Stalled")
  if stalled ~= nil and stalled.status == "True" then
    return health("Degraded", text(stalled))
  end
  local ready = condition(status, "Ready")
  if ready == nil then
    return waiting()
  end
  if ready.status == "True" then
    return health("Healthy", text(ready))
  end
  if ready.status == "False" then
    local reconciling = condition(status, "Reconciling")
    if reconciling ~= nil and reconciling.status == "True" then
      return health("Progressing", text(ready))
    end
    return health("Degraded", text(ready))
  end
  return health("Progressing", text(ready))
end

-- fallback says where Spot stands when replicas wait for it or run On-Demand instead.
local function fallback()
  local fb = obj.status ~= nil and obj.status.fallback or nil
  if fb == nil or fb.state == nil or fb.state == "Available" then
    return nil
  end
  local note = "Spot fallback " .. fb.state
  if fb.message ~= nil and fb.message ~= "" then
    note = note .. ": " .. fb.message
  elseif fb.replicas ~= nil and fb.replicas > 0 then
    note = note .. ": " .. fb.replicas .. " replicas on fallback"
  end
  return note
end

local hs = evaluate()
local note = fallback()
if note ~= nil then
  hs.message = hs.message .. "; " .. note
end
return hs
