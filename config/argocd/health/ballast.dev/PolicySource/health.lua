-- Argo CD health check of a ballast.dev PolicySource (docs/argocd.md). The first match
-- wins:
--   Suspended    spec.suspend is true
--   Progressing  no status or no Ready condition yet, or status.observedGeneration is
--                behind metadata.generation
--   Degraded     Stalled=True
--   Progressing  Ready=False and Reconciling=True while a sync is under way
--   Degraded     Ready=False, also while a failed sync is retried (Reconciling=True
--                with reason ProgressingWithRetry): the source is broken until a sync
--                succeeds
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

local function evaluate()
  local status = obj.status
  if obj.spec ~= nil and obj.spec.suspend == true then
    local message = "Suspended: nothing is synced, and what was applied stays"
    if status ~= nil and status.lastAppliedRevision ~= nil then
      message = message .. " (revision " .. status.lastAppliedRevision .. ")"
    end
    return health("Suspended", message)
  end
  if status == nil then
    return health("Progressing", "Waiting for the Ballast controller to sync this PolicySource")
  end
  local generation = obj.metadata.generation
  if status.observedGeneration ~= nil and generation ~= nil and status.observedGeneration < generation then
    return health("Progressing", "Waiting for the Ballast controller to sync generation " .. generation ..
      " (status is of generation " .. status.observedGeneration .. ")")
  end
  local stalled = condition(status, "Stalled")
  if stalled ~= nil and stalled.status == "True" then
    return health("Degraded", text(stalled))
  end
  local ready = condition(status, "Ready")
  if ready == nil then
    return health("Progressing", "Waiting for the Ballast controller to sync this PolicySource")
  end
  if ready.status == "True" then
    return health("Healthy", text(ready))
  end
  if ready.status == "False" then
    local reconciling = condition(status, "Reconciling")
    if reconciling ~= nil and reconciling.status == "True" and reconciling.reason ~= "ProgressingWithRetry" then
      return health("Progressing", text(ready))
    end
    return health("Degraded", text(ready))
  end
  return health("Progressing", text(ready))
end

return evaluate()
