-- Policy of TestBrokenMIME (integration/conformance/broken_test.go), the
-- md-worker side: broken.filter in Lua. Keep the two in step. Besides the
-- policy, every part callback records what the filter saw (type and every
-- file name, entity:filenames()) in an X-Broken-Saw header, which the test
-- compares with what mail clients find in the delivered message.

AdminAddress = "postmaster@example.com"
AdminName = "Broken MIME Admin"
DaemonAddress = "mimedefang@example.com"
AddWarningsInline = false

local function saw(entity, type)
  -- (A NUL would end the header value: names keep their other bytes.)
  local names = table.concat(entity:filenames(), "\31"):gsub("%z", "")
  action_add_header("X-Broken-Saw", type .. "\31" .. names)
end

local function check(entity, type)
  saw(entity, type)
  if re_match(entity, [[\.(exe|com|bat|scr|pif|vbs)\.*$]]) then
    return action_drop_with_warning("Removed a dangerous attachment.")
  end
  return action_accept()
end

function filter(entity, fname, ext, type)
  return check(entity, type)
end

-- As in the upstream suggested filter, a container's names count too.
function filter_multipart(entity, fname, ext, type)
  return check(entity, type)
end

function filter_end(entity)
  if string.find(Subject or "", "DISCLAIMER", 1, true) then
    append_text_boilerplate(entity, "-- \nDisclaimer", true)
    append_html_boilerplate(entity, "<p>Disclaimer</p>", true)
  end
end
