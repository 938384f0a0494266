-- clamd.lua: the virus check of a real filter, for integration/clamd_test.go.
-- The test writes its settings in front of this file: ClamdSock and
-- the other clamd globals, Features, and Scan, which says how to scan:
--   "message"   message_contains_virus_clamd() in filter_begin
--   "entity"    entity_contains_virus_clamd(entity) on each part in filter
--   "any"       message_contains_virus(), the scanners Features turns on
--   "clamdscan" message_contains_virus_clamdscan()
--   "clamav"    message_contains_virus_clamav()
-- A virus quarantines the message and rejects it; a scanner that fails
-- tempfails it, so that the sender's MTA retries: mail is never let
-- through unscanned.

local function act(code, category, action)
    if category == "virus" then
        md_syslog("warning", "Rejecting because of virus " .. VirusName)
        action_quarantine_entire_message("Virus " .. VirusName)
        action_bounce("Virus found: " .. VirusName)
    elseif category ~= "ok" then
        md_syslog("warning", "Problem running virus scanner: code=" .. code ..
            ", category=" .. category .. ", action=" .. action)
        action_tempfail("Problem running virus scanner")
    end
end

function filter_begin(entity)
    if Scan == "message" then
        act(message_contains_virus_clamd())
    elseif Scan == "any" then
        act(message_contains_virus())
    elseif Scan == "clamdscan" then
        act(message_contains_virus_clamdscan())
    elseif Scan == "clamav" then
        act(message_contains_virus_clamav())
    end
end

function filter(entity, fname, ext, type)
    if Scan == "entity" and not message_rejected() then
        act(entity_contains_virus_clamd(entity))
    end
end

function filter_end(entity)
    if VirusScannerMessages ~= "" then
        md_syslog("info", "Virus scanner messages: " .. VirusScannerMessages)
    end
end
