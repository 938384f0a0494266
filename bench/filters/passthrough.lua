-- -*- Lua -*-
-- bench/filters/passthrough.lua: the pass-through policy of bench/e2e.sh,
-- the Lua port of integration/testdata/test.filter:
--  - reject (554 5.7.1) any message whose Subject contains MDTEST-REJECT
--  - add "X-MD-Test: passed" to every message that is not rejected

AdminAddress = 'postmaster@localhost'
AdminName = "MIMEDefang integration tests"
DaemonAddress = 'mimedefang@localhost'

local marker = 'MDTEST-REJECT'

function filter_begin(entity)
    if Subject ~= nil and string.find(Subject, marker, 1, true) then
        md_syslog('info', "mdtest: rejecting message with marker subject")
        return action_bounce("Message rejected by test policy: forbidden subject marker", 554, "5.7.1")
    end
end

function filter(entity, fname, ext, type)
    if message_rejected() then return end
    return action_accept()
end

function filter_end(entity)
    if message_rejected() then return end
    action_add_header('X-MD-Test', 'passed')
end
