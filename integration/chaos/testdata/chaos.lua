-- chaos.lua: the filter of the chaos campaign (integration/chaos). The test
-- writes its settings in front of this file: ClamdSock, SpamdHost,
-- SpamdPort, RspamdURL, DNSServers, Blocklist, the scanners' timeouts,
-- and ChaosFaulty, true while the "faulty filter" fault is on.
--
-- The policy is a typical site's, strict about its scanners: every message
-- is checked by clamd, spamd and rspamd at once (md_check_all) and its
-- relay against a DNS blocklist; a check that cannot answer tempfails the
-- message, so that mail is never passed unscanned. A virus or a Subject
-- holding CHAOS-POLICY-REJECT is rejected; .exe parts are dropped with a
-- warning; spam is tagged. Every message that passes gets X-Chaos-Scanned
-- with the number the client gave it (X-Chaos-Seq), which the test checks
-- in each delivered copy.

Features["Virus:CLAMD"] = true
MaxMIMEParts = 5000 -- a message with more is bounced, as the original does
md_spamc_init(SpamdHost, SpamdPort)

local seq, verdicts, spam

-- misbehave is the faulty filter: on one message in 50 it raises an
-- error, loops for ever or allocates without bound (in turn).
local function misbehave(n)
    if not ChaosFaulty or n == nil or n % 50 ~= 0 then
        return
    end
    local how = (n / 50) % 3
    if how == 0 then
        error("chaos: deliberate failure on message " .. n)
    elseif how == 1 then
        while true do end
    else
        local t, s, i = {}, string.rep("x", 8 * 1024 * 1024), 0
        while true do
            i = i + 1
            t[i] = s .. i
        end
    end
end

function filter_begin(entity)
    seq = entity:head_get("X-Chaos-Seq") or "none"
    spam = false
    misbehave(tonumber(seq))
    if string.find(Subject, "CHAOS-POLICY-REJECT", 1, true) then
        return action_bounce("Rejected by the chaos policy")
    end

    local bl = relay_is_blacklisted_multi(RelayAddr, DNSTimeout, 1, {Blocklist})
    local listed = bl[Blocklist]
    if listed == "SERVFAIL" then
        return action_tempfail("DNS blocklist unavailable, try again later")
    elseif type(listed) == "table" then
        return action_bounce("Relay listed in " .. Blocklist)
    end

    local all = md_check_all{virus = true, spamassassin = true, rspamd = true}
    if all.virus.category == "virus" then
        return action_bounce("Virus found: " .. VirusName)
    elseif all.virus.category ~= "ok" then
        return action_tempfail("Virus scanner unavailable (" .. all.virus.category .. "), try again later")
    end
    if not all.spamassassin then
        return action_tempfail("spamd unavailable, try again later")
    end
    if all.rspamd.action == "soft reject" then
        return action_tempfail("rspamd unavailable, try again later")
    end
    spam = all.spamassassin.is_spam
    verdicts = string.format("clamd=%s spamd=%.1f rspamd=%s dnsbl=%s",
        all.virus.category, all.spamassassin.hits, all.rspamd.action, listed)
end

-- Every name a part gives (Content-Type name, Content-Disposition
-- filename, their RFC 2231 forms) is checked, as MIMEDefang's example
-- filter does with re_match: not only the one the filter is handed.
function filter(entity, fname, ext, type)
    if re_match(entity, [[\.exe\.*$]]) then
        return action_drop_with_warning("chaos: removed " .. fname)
    end
    return action_accept()
end

function filter_end(entity)
    if message_rejected() then
        return
    end
    action_add_header("X-Chaos-Scanned", seq)
    action_add_header("X-Chaos-Verdicts", verdicts)
    if spam then
        action_add_header("X-Chaos-Spam", "yes")
    end
end
