-- faults.lua: a filter that misbehaves on purpose, for
-- TestWorkerFaultsTempfail. The Subject says how.
local function has(marker)
  return string.find(Subject, marker, 1, true) ~= nil
end

function filter_begin(entity)
  if has("MDFAULT-LOOP") then
    while true do end
  end
  if has("MDFAULT-ERROR") then
    error("deliberate failure")
  end
  if has("MDFAULT-ALLOC") then
    -- 8 MiB a step, so that the heap limit (256 MiB in the test) is
    -- reached in well under the request deadline (10 s), even on a loaded
    -- machine: the test wants the heap limit's outcome, not the deadline's.
    local t, s, i = {}, string.rep("x", 8 * 1024 * 1024), 0
    while true do
      i = i + 1
      t[i] = s .. i
    end
  end
end

function filter(entity, fname, ext, type)
  return action_accept()
end

function filter_end(entity)
  action_add_header("X-MD-Faults", "survived")
end
