-- spamd.lua: the spam check of a real filter, for integration/spamd_test.go.
-- The test writes its settings in front of this file: SpamdHost and
-- SpamdPort (or a socket path as SpamdHost), SpamdTimeout, and Check,
-- which says which function asks spamd:
--   "check"   spam_assassin_check()  (SYMBOLS and REPORT)
--   "spamc"   md_spamc_check(client) (REPORT)
--   "status"  spam_assassin_status()
-- A message scoring at least the threshold is rejected when Reject is
-- true, else its subject is tagged; every message gets X-Spam-Score.
-- When spamd gives no verdict the message passes unchecked, as the
-- original's spam_assassin_check does, and the filter says so in the
-- log and in a header.

local client = md_spamc_init(SpamdHost, SpamdPort)

local function verdict()
    if Check == "spamc" then
        local score, threshold, report, isspam = md_spamc_check(client)
        if score == nil then return nil end
        return score, threshold, "", isspam == "True"
    elseif Check == "status" then
        local st = spam_assassin_status()
        if st == nil then return nil end
        st:finish()
        return st.score, st.required, st.names, st.is_spam
    end
    local hits, req, tests = spam_assassin_check()
    if hits == nil then return nil end
    return hits, req, tests, hits >= req
end

function filter_end(entity)
    local hits, req, tests, spam = verdict()
    if hits == nil then
        md_syslog("warning", "spamd gave no verdict: the message passes unchecked")
        action_change_header("X-Spam-Status", "unchecked")
        return
    end
    local stars = string.rep("*", math.min(40, math.floor(math.max(hits, 0))))
    action_change_header("X-Spam-Score", string.format("%.1f/%.1f (%s) %s", hits, req, stars, tests))
    md_syslog("info", string.format("spam score %.1f of %.1f: %s", hits, req, tostring(spam)))
    if spam then
        if Reject then
            action_bounce("Message rejected as spam")
        else
            action_change_header("Subject", "[SPAM] " .. Subject)
        end
    end
end
