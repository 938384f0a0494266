-- Filter of integration/modes_test.go (md-worker): modes.filter in Lua.
-- The test writes Features["Path:QUARANTINEDIR"] in front of it. It
-- quarantines every message whole and its attachment quarantine.bin
-- (dropped with a warning), so that the quarantine directory and its files
-- are made; WriteWorkParts writes every part under Work/, as mimedefang.pl
-- does by itself.

WriteWorkParts = true

function filter_begin(entity)
    action_quarantine_entire_message("modes test: the entire message")
end

function filter(entity, fname, ext, type)
    if string.lower(fname) == "quarantine.bin" then
        return action_quarantine(entity, "modes test: quarantine.bin quarantined")
    end
    return action_accept()
end
