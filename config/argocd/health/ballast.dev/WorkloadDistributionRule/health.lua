-- Argo CD health check of a ballast.dev WorkloadDistributionRule (docs/argocd.md). The
-- first match wins:
--   Progressing  no status or no Ready condition yet (no controller serving the rule's
--                cluster has seen it), or status.observedGeneration is behind
--                metadata.generation
--   Degraded     Stalled=True
--   Progressing  Ready=False and Reconciling=True (retrying)
--   Degraded     Ready=False
--   Healthy      Ready=True
--   Progressing  Ready=Unknown
-- The message is the Ready (or Stalled) condition's.
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

-- waiting names the cluster from the ballast.dev/cluster label `ballast render` sets.
local function waiting()
  local labels = obj.metadata.labels
  if labels ~= nil and labels["ballast.dev/cluster"] ~= nil then
    return health("Progressing", "Waiting for a Ballast controller serving cluster " ..
      labels["ballast.dev/cluster"] .. " to report on this rule")
  end
  return health("Progressing", "Waiting for a Ballast controller to report on this rule")
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

return evaluate()
