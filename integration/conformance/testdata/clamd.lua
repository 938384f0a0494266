-- clamd.lua: the md-worker side of TestClamdConformance (clamd_test.go). It
-- is clamd.filter (the Perl reference) ported line by line to the Lua filter
-- API; keep the two in step.
--
-- The test writes its settings in front of this file:
--   ClamdSock                       clamd's Unix socket
--   ClamdMode                       "SCAN" in the SCAN subtest (md-worker
--                                   only; INSTREAM by default)
--   Features["Path:QUARANTINEDIR"]  this run's quarantine
--   ClamdConfScan                   "message": filter_begin scans the whole
--                                   message and filter each part; "parts":
--                                   only filter scans, part by part
--
-- A virus found in the whole message quarantines the message and rejects it
-- with the virus name in the reply; a virus found in a part drops the part
-- with a warning naming the virus; a scanner that fails (any category but
-- ok and virus) tempfails the message with the outcome in the reply. What
-- each scan returned is written in X-Clamd-* headers, and the scanner's
-- messages and VirusName in filter_end, so that they are compared too.

AddWarningsInline = false

-- Per-message state, reset in filter_begin.
ClamdConfPart = 0

-- The scanner's text on one line: each newline as the two characters \n.
local function oneline(s)
  return (string.gsub(s, "\n", "\\n"))
end

function filter_begin(entity)
  ClamdConfPart = 0
  if ClamdConfScan ~= "message" then
    return
  end

  local code, category, action = message_contains_virus_clamd()
  action_add_header("X-Clamd-Message", code .. " " .. category .. " " .. action)
  if category == "virus" then
    action_quarantine_entire_message("Virus " .. VirusName)
    action_bounce("Virus found: " .. VirusName)
  elseif category ~= "ok" then
    action_tempfail("Problem running virus scanner: " .. code .. " " .. category .. " " .. action)
  end
end

function filter(entity, fname, ext, type)
  ClamdConfPart = ClamdConfPart + 1
  if message_rejected() then
    return action_accept()
  end

  local code, category, action = entity_contains_virus_clamd(entity)
  action_add_header("X-Clamd-Part",
    string.format('%d %s "%s" %s %s %s', ClamdConfPart, type, fname, code, category, action))
  if category == "virus" then
    return action_drop_with_warning(string.format('Dropped part %d "%s": it contains the virus %s',
      ClamdConfPart, fname, VirusName))
  end
  if category ~= "ok" then
    action_tempfail(string.format("Problem running virus scanner on part %d: %s %s %s",
      ClamdConfPart, code, category, action))
  end
  return action_accept()
end

function filter_end(entity)
  if VirusScannerMessages ~= "" then
    action_add_header("X-Virus-Scanner-Messages", oneline(VirusScannerMessages))
  end
  if VirusName ~= "" then
    action_add_header("X-Virus-Name", VirusName)
  end
end
