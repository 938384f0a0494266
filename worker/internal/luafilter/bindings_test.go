package luafilter

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/mdgo/md/worker/filter"
)

// altMsg is a multipart/alternative message with a text and an HTML part.
const altMsg = `From: sender@example.com
To: rcpt@example.org
Subject: Hello there
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="ALT"

--ALT
Content-Type: text/plain; charset=us-ascii

Plain text.

--ALT
Content-Type: text/html; charset=us-ascii

<html><body><p>HTML text.</p></body></html>

--ALT--
`

// bindingCase runs src on msg and checks what the scan wrote.
type bindingCase struct {
	name string
	src  string
	msg  string
	// lines must all be lines of RESULTS.
	lines []string
	// noLines must not be lines of RESULTS.
	noLines []string
	// body must all be in NEWBODY; notBody must not.
	body, notBody []string
	// log must all be in the worker's log.
	log []string
	// syslogLog are lines that go to syslog, or to the worker's log when
	// there is no system logger (/dev/log): checked only then.
	syslogLog []string
	// check, when set, inspects the working directory.
	check func(t *testing.T, tw *testWorker, dir string)
}

func TestBindings(t *testing.T) {
	docRoot := t.TempDir()
	cases := []bindingCase{
		// Part dispositions.
		{name: "action_accept", msg: exeMsg,
			src:     `function filter(e) H("r", tostring(action_accept())) end`,
			lines:   []string{"HX-r true"},
			noLines: []string{"C"}, // body unchanged: not rewritten
		},
		{name: "action_accept_with_warning", msg: exeMsg,
			src:   `function filter(e, f) if f == "setup.exe" then action_accept_with_warning("kept " .. f) end end`,
			lines: []string{"C"}, body: []string{"kept setup.exe", "setup.exe"},
		},
		{name: "action_drop", msg: exeMsg,
			src:   `function filter(e, f) if f == "setup.exe" then H("r", tostring(action_drop())) end end`,
			lines: []string{"HX-r true", "C"}, body: []string{"See the attachment."}, notBody: []string{"setup.exe"},
		},
		{name: "action_drop_with_warning", msg: exeMsg,
			src:   `function filter(e, f) if f == "setup.exe" then action_drop_with_warning("removed " .. f) end end`,
			lines: []string{"C"}, body: []string{"removed setup.exe"}, notBody: []string{`filename="setup.exe"`},
		},
		{name: "action_replace_with_warning", msg: exeMsg,
			src:   `function filter(e, f) if f == "setup.exe" then action_replace_with_warning("was " .. f) end end`,
			lines: []string{"C"}, body: []string{"was setup.exe", "warning1.txt"}, notBody: []string{`filename="setup.exe"`},
		},
		{name: "action_replace_with_url", msg: exeMsg,
			src: `function filter(e, f) if f == "setup.exe" then
				action_replace_with_url(e, "` + docRoot + `", "http://x.test/d", "get it at _URL_") end end`,
			lines: []string{"C"}, body: []string{"get it at http://x.test/d/"},
			check: func(t *testing.T, _ *testWorker, _ string) {
				names, _ := filepath.Glob(filepath.Join(docRoot, "*.exe"))
				if len(names) != 1 {
					t.Errorf("doc root holds %v, want one .exe", names)
				}
			},
		},
		{name: "action_defang", msg: exeMsg,
			src:   `function filter(e, f) if f == "setup.exe" then action_defang(e, "setup.bin", "setup.bin", "application/x-defanged") end end`,
			lines: []string{"C"}, body: []string{"application/x-defanged", "setup.bin"},
		},
		{name: "action_external_filter", msg: exeMsg,
			src: `function filter(e, t) if e:mime_type() == "text/plain" then
				action_external_filter(e, "tr a-z A-Z < FILTERINPUT > FILTEROUTPUT") end end`,
			lines: []string{"C"}, body: []string{"SEE THE ATTACHMENT."},
		},

		// Whole-message dispositions.
		{name: "action_bounce", msg: plainMsg,
			src:   `function filter_begin() action_bounce("Too big", 552, "5.3.4") end`,
			lines: []string{"B552 5.3.4 Too%20big"},
		},
		{name: "action_bounce defaults", msg: plainMsg,
			src:   `function filter_begin() action_bounce() end`,
			lines: []string{"B554 5.7.1 Forbidden%20for%20policy%20reasons"},
		},
		{name: "action_tempfail", msg: plainMsg,
			src:   `function filter_begin() action_tempfail("later", "452", "4.3.1") end`,
			lines: []string{"T452 4.3.1 later"},
		},
		{name: "action_discard", msg: plainMsg,
			src:   `function filter_begin() action_discard() end`,
			lines: []string{"D"},
		},
		{name: "md_message_size", msg: plainMsg,
			src:   `function filter_begin() H("size", tostring(md_message_size())) end`,
			lines: []string{"HX-size " + strconv.Itoa(len(plainMsg))},
		},
		{name: "message_rejected", msg: plainMsg,
			src: `function filter_begin()
				H("before", tostring(message_rejected())); action_discard(); H("after", tostring(message_rejected())) end`,
			lines: []string{"HX-before false", "HX-after true"},
		},

		// Header edits.
		{name: "action_add_header", msg: plainMsg,
			src: `function filter_end() action_add_header("X-Added", "a b") end`, lines: []string{"HX-Added a%20b"}},
		{name: "action_insert_header", msg: plainMsg,
			src:   `function filter_end() action_insert_header("X-Ins", "v") action_insert_header("X-Ins2", "w", 2) end`,
			lines: []string{"NX-Ins 0 v", "NX-Ins2 2 w"}},
		{name: "action_change_header", msg: plainMsg,
			src:   `function filter_end() action_change_header("Subject", "new") action_change_header("X-C", "v", "2") end`,
			lines: []string{"ISubject 1 new", "IX-C 2 v"}},
		{name: "action_delete_header", msg: plainMsg,
			src:   `function filter_end() action_delete_header("X-D") action_delete_header("X-E", 3) end`,
			lines: []string{"JX-D 1", "JX-E 3"}},
		{name: "action_delete_all_headers", msg: "Received: a\nReceived: b\nSubject: s\n\nbody\n",
			src:   `function filter_end() H("r", tostring(action_delete_all_headers("received"))) end`,
			lines: []string{"Jreceived 2", "Jreceived 1", "HX-r true"}},
		{name: "action_add_header_now", msg: plainMsg,
			src:   `function filter_begin() action_add_header_now("X-Now", "1") end`,
			lines: []string{"HX-Now 1"},
			check: inputHas("X-Now: 1\n")},
		{name: "action_insert_header_now", msg: plainMsg,
			src:   `function filter_begin() action_insert_header_now("X-First", "1", 0) end`,
			lines: []string{"NX-First 0 1"},
			check: inputHas("X-First: 1\nFrom:")},
		{name: "action_change_header_now", msg: plainMsg,
			src:   `function filter_begin() action_change_header_now("Subject", "changed") end`,
			lines: []string{"ISubject 1 changed"},
			check: inputHas("Subject: changed\n")},
		{name: "action_delete_header_now", msg: plainMsg,
			src:   `function filter_begin() action_delete_header_now("Subject") end`,
			lines: []string{"JSubject 1"},
			check: inputLacks("Subject:")},
		{name: "action_delete_all_headers_now", msg: "Received: a\nReceived: b\nSubject: s\n\nbody\n",
			src:   `function filter_begin() action_delete_all_headers_now("Received") end`,
			lines: []string{"JReceived 2", "JReceived 1"},
			check: inputLacks("Received:")},

		// Envelope edits.
		{name: "add_recipient", msg: plainMsg,
			src: `function filter_end() add_recipient("<new@example.org>") end`, lines: []string{"R<new@example.org>"}},
		{name: "delete_recipient", msg: plainMsg,
			src: `function filter_end() delete_recipient(Recipients[2]) end`, lines: []string{"S<other@example.net>"}},
		{name: "change_sender", msg: plainMsg,
			src: `function filter_end() change_sender("<bounce@example.com>") end`, lines: []string{"f<bounce@example.com>"}},

		// Body and structure.
		{name: "action_rebuild", msg: plainMsg,
			src: `function filter_end() action_rebuild() end`, lines: []string{"C"}, body: []string{"Hello, world."}},
		{name: "action_add_part", msg: plainMsg,
			src: `function filter_end(e)
				local p = action_add_part(e, "text/plain", "-suggest", "extra text\n", "extra.txt", "inline")
				H("r", p:mime_type()) end`,
			lines: []string{"C", "HX-r text/plain"}, body: []string{"extra text", `filename="extra.txt"`, "Hello, world."}},
		{name: "action_add_entity", msg: exeMsg,
			src: `function filter_end(e)
				local p = find_part(e, "text/plain")
				H("r", tostring(action_add_entity(p, 0) == p)) end`,
			lines: []string{"C", "HX-r true"}, body: []string{"See the attachment."}},
		{name: "replace_entire_message", msg: exeMsg,
			src: `function filter_end(e)
				local p = find_part(e, "text/plain")
				H("r", tostring(replace_entire_message(p))) end`,
			lines: []string{"C", "HX-r true"}, body: []string{"See the attachment."}, notBody: []string{"setup.exe"}},
		{name: "append_text_boilerplate", msg: exeMsg,
			src:   `function filter_end(e) H("r", tostring(append_text_boilerplate(e, "-- disclaimer", false))) end`,
			lines: []string{"C", "HX-r true"}, body: []string{"See the attachment.\n\n-- disclaimer\n"}},
		{name: "append_html_boilerplate", msg: altMsg,
			src:   `function filter_end(e) append_html_boilerplate(e, "<p>disclaimer</p>", 1) end`,
			lines: []string{"C"}, body: []string{"<p>disclaimer</p>\n</body>"}},
		{name: "append_to_part", msg: plainMsg,
			src:   `function filter(e) H("r", tostring(append_to_part(e, "appended"))) end`,
			lines: []string{"C", "HX-r true"}, body: []string{"Hello, world.\n\nappended"}},
		{name: "append_to_html_part", msg: altMsg,
			src:   `function filter(e, f, x, t) if t == "text/html" then append_to_html_part(e, "<b>x</b>") end end`,
			lines: []string{"C"}, body: []string{"<b>x</b>\n</body>"}},
		{name: "remove_redundant_html_parts", msg: altMsg,
			src:   `function filter_end(e) H("r", tostring(remove_redundant_html_parts(e))) end`,
			lines: []string{"C", "HX-r true"}, body: []string{"Plain text."}, notBody: []string{"HTML text."}},
		{name: "find_part", msg: altMsg,
			src: `function filter_begin(e)
				H("html", find_part(e, "TEXT/HTML"):mime_type()); H("none", tostring(find_part(e, "image/png"))) end`,
			lines: []string{"HX-html text/html", "HX-none nil"}},
		{name: "collect_parts", msg: altMsg,
			src: `function filter_begin(e)
				local ps = collect_parts(e); H("n", #ps); H("types", ps[1]:mime_type() .. "," .. ps[2]:mime_type()) end`,
			lines: []string{"HX-n 2", "HX-types text/plain,text/html"}},
		{name: "takeStabAtFilename", msg: exeMsg,
			src:   `function filter(e) if e:mime_type() ~= "text/plain" then H("f", takeStabAtFilename(e)) end end`,
			lines: []string{"HX-f setup.exe"}},

		// Filename matching.
		{name: "re_match", msg: exeMsg,
			src: `function filter(e, f) if f ~= "" then
				H("exe", tostring(re_match(e, [[\.EXE$]]))); H("zip", tostring(re_match(e, [[\.zip$]]))) end end`,
			lines: []string{"HX-exe true", "HX-zip false"}},
		{name: "re_match_ext", msg: exeMsg,
			src: `function filter(e, f) if f ~= "" then
				H("ext", tostring(re_match_ext(e, [[^\.(exe|com)$]]))); H("whole", tostring(re_match_ext(e, "^setup"))) end end`,
			lines: []string{"HX-ext true", "HX-whole false"}},

		// Logging and utilities.
		{name: "md_syslog", msg: plainMsg,
			src:       `function filter_begin() md_syslog("warning", "hello from lua") md_syslog("mail|info", "second") print("third", 3) end`,
			log:       []string{"QID123: third\t3"},
			syslogLog: []string{"QID123: hello from lua", "QID123: second"}},
		{name: "md_version", msg: plainMsg,
			src: `function filter_end() H("v", md_version()) end`, lines: []string{"HX-v " + filter.MdVersion()}},
		{name: "percent_encode", msg: plainMsg,
			src:   `function filter_end() H("e", percent_encode("a b%")); H("d", percent_decode("x%20y")) end`,
			lines: []string{"HX-e a%2520b%2525", "HX-d x%20y"}},
		{name: "time_str", msg: plainMsg,
			src: `function filter_end() H("t", time_str()); H("h", hour_str()); H("d", rfc2822_date()); H("m", gen_msgid_header()); H("n", get_host_name()) end`,
			check: func(t *testing.T, _ *testWorker, dir string) {
				res := readFile(dir, "RESULTS")
				for _, re := range []string{
					`(?m)^HX-t \d{4}-\d\d-\d\d-\d\d\.\d\d\.\d\d$`,
					`(?m)^HX-h \d{4}-\d\d-\d\d-\d\d$`,
					`(?m)^HX-d [A-Z][a-z]{2},%20\d\d%20[A-Z][a-z]{2}%20\d{4}%20\d\d:\d\d:\d\d%20[-+]\d{4}$`,
					`(?m)^HX-m Message-ID:%20<\d{12}\.QID123@[^>]+>%0A$`,
					`(?m)^HX-n \S+$`,
				} {
					if !regexp.MustCompile(re).MatchString(res) {
						t.Errorf("RESULTS does not match %s:\n%s", re, res)
					}
				}
			}},

		// Quarantine.
		{name: "get_quarantine_dir", msg: plainMsg,
			src:   `function filter_begin() q = get_quarantine_dir() H("q", q ~= "" and q == get_quarantine_dir()) end`,
			lines: []string{"HX-q true"},
			check: func(t *testing.T, tw *testWorker, _ string) {
				if got := quarantined(tw, "SENDER"); len(got) != 1 {
					t.Errorf("quarantine dirs with SENDER: %v", got)
				}
			}},
		{name: "action_quarantine", msg: exeMsg,
			src: `function filter(e, f) if f == "setup.exe" then H("r", action_quarantine(e, "quarantined " .. f)) end end
				function filter_end() H("n", QuarantineCount) end`,
			lines: []string{"HX-r true", "HX-n 1", "C"}, body: []string{"quarantined setup.exe"}, notBody: []string{"TVqQ"},
			check: func(t *testing.T, tw *testWorker, _ string) {
				if got := quarantined(tw, "PART.1.BODY"); len(got) != 1 {
					t.Errorf("quarantined bodies: %v", got)
				}
			}},
		{name: "action_quarantine_entire_message", msg: plainMsg,
			src:   `function filter_begin() action_quarantine_entire_message("all of it") H("e", EntireMessageQuarantined) end`,
			lines: []string{"HX-e true"},
			check: func(t *testing.T, tw *testWorker, _ string) {
				if got := quarantined(tw, "ENTIRE_MESSAGE"); len(got) != 1 {
					t.Errorf("quarantined messages: %v", got)
				}
			}},
		{name: "action_sm_quarantine", msg: plainMsg,
			src: `function filter_begin() action_sm_quarantine("spam detected") end`, lines: []string{"Qspam%20detected"}},
		{name: "send_quarantine_notifications", msg: exeMsg,
			src: `function filter(e, f) if f == "setup.exe" then action_quarantine(e, "bad file") end end
				function filter_end() send_quarantine_notifications() end`,
			lines: []string{"C"},
			check: mailed("postmaster@localhost", "bad file")},

		// Notifications and outbound mail.
		{name: "action_notify_sender", msg: plainMsg,
			src:   `function filter_begin() H("r", action_notify_sender("Your mail was checked.\n")) end`,
			lines: []string{"HX-r true"}, check: mailed("<sender@example.com>", "Your mail was checked.")},
		{name: "action_notify_administrator", msg: plainMsg,
			src:   `function filter_begin() action_notify_administrator("Something to see.\n") end`,
			check: mailed("postmaster@localhost", "Something to see.")},
		{name: "send_mail", msg: plainMsg,
			src:   `function filter_begin() H("r", send_mail("a@example.com", "A", "b@example.org", "Subject: hi\n\nbody text\n")) end`,
			lines: []string{"HX-r true"}, check: mailed("-fa@example.com -FA -odd -Ac -oi -- b@example.org", "body text")},
		{name: "send_admin_mail", msg: plainMsg,
			src:   `function filter_begin() send_admin_mail("Report", "admin body") end`,
			check: mailed("postmaster@localhost", "Subject: Report")},

		// Re-sending and streaming.
		{name: "resend_message", msg: plainMsg,
			src:   `function filter_begin() H("r", resend_message("<x@example.org>", "<y@example.org>")) end`,
			lines: []string{"HX-r true"}, check: mailed("<x@example.org> <y@example.org>", "Hello, world.")},
		{name: "resend_message_one_recipient", msg: plainMsg,
			src:   `function filter_begin() resend_message_one_recipient("<z@example.org>", "-odq") end`,
			check: mailed("-odq -Ac -oi -- <z@example.org>", "Hello, world.")},
		{name: "resend_message_specifying_mode", msg: plainMsg,
			src:   `function filter_begin() resend_message_specifying_mode("-odi", {"<w@example.org>"}) end`,
			check: mailed("-odi -Ac -oi -- <w@example.org>", "Hello, world.")},
		{name: "stream_by_domain", msg: plainMsg,
			src: `function filter_begin() H("r", stream_by_domain()) H("d", Domain) end
				function filter_end() H("end", "called") end`,
			lines: []string{"HX-r true", "HX-d example.net", "D"}, noLines: []string{"HX-end called"},
			check: mailed("<other@example.net>", "Hello, world.")},
		{name: "stream_by_recipient", msg: plainMsg,
			src:   `function filter_begin() H("r", stream_by_recipient()) end`,
			lines: []string{"HX-r true", "D"}, check: mailed("<rcpt@example.org>", "Hello, world.")},

		// Archives.
		{name: "re_match_in_zip_directory", msg: archiveMsg("files.zip", zipOf("doc.txt", "run.exe")),
			src: `function filter(e, f) if f == "files.zip" then
				H("exe", re_match_in_zip_directory(e:path(), [[\.exe$]])); H("com", re_match_in_zip_directory(e:path(), [[\.com$]])) end end`,
			lines: []string{"HX-exe true", "HX-com false"}},
		{name: "re_match_in_tar_directory", msg: archiveMsg("files.tar", tarOf("doc.txt", "run.scr")),
			src: `function filter(e, f) if f == "files.tar" then
				H("scr", re_match_in_tar_directory(e:path(), [[\.scr$]])); H("exe", re_match_in_tar_directory(e:path(), [[\.exe$]])) end end`,
			lines: []string{"HX-scr true", "HX-exe false"}},

		// Logging.
		{name: "md_graphdefang_log_enable", msg: plainMsg,
			src: `md_graphdefang_log_enable("local4", 0)
				function filter_end() md_graphdefang_log("mail_in", "v1") md_graphdefang_log_array("ev", 0, {"a", "b"}) end`,
			syslogLog: []string{"MDLOG,QID123,mail_in,v1,,<sender@example.com>,rcpts=2,Hello there", "MDLOG,QID123,ev,a,b,"},
			check: func(t *testing.T, tw *testWorker, _ string) {
				if v := tw.w.Config().Vars["GraphDefangSyslogFacility"]; v != "local4" {
					t.Errorf("facility %q", v)
				}
			}},

		{name: "md_graphdefang_log", msg: plainMsg,
			src: `md_graphdefang_log_enable("local4", 1)
				function filter_end() md_graphdefang_log("virus", "EICAR", "", 0, 1) end`,
			syslogLog: []string{"MDLOG,QID123,virus,EICAR,,<sender@example.com>,rcpts=2,Hello there"}},

		// Envelope access and utilities.
		{name: "read_commands_file", msg: plainMsg,
			src:   `function filter_begin() Recipients = {} H("r", read_commands_file()) H("n", #Recipients .. SendmailMacros["j"]) end`,
			lines: []string{"HX-r true", "HX-n 4mx.example.org"}},
		{name: "md_copy_orig_msg_to_work_dir", msg: plainMsg,
			src: `function filter_begin() md_copy_orig_msg_to_work_dir() md_copy_orig_msg_to_work_dir_as_mbox_file() end`,
			check: func(t *testing.T, _ *testWorker, dir string) {
				if readFile(dir, "Work/INPUTMSG") != plainMsg || !strings.HasPrefix(readFile(dir, "Work/INPUTMBOX"), "From sender@example.com ") {
					t.Errorf("Work/INPUTMSG %q, Work/INPUTMBOX %q", readFile(dir, "Work/INPUTMSG"), readFile(dir, "Work/INPUTMBOX"))
				}
			}},
		{name: "synthesize_received_header", msg: plainMsg,
			src: `function filter_begin() H("r", synthesize_received_header()) H("g", gen_date_msgid_headers()) H("z", header_timezone(0)) end`,
			check: matches(`(?m)^HX-r Received:%20from%20helo.example.com%20\(client.example.com%20\[192.0.2.1\]\)`,
				`(?m)^HX-g Date:%20.*%0AMessage-ID:%20<`, `(?m)^HX-z [-+]\d{4}$`)},
		{name: "copy_or_link", msg: plainMsg,
			src:   `function filter_begin() H("r", copy_or_link(CWD .. "/INPUTMSG", CWD .. "/copy")) end`,
			lines: []string{"HX-r true"},
			check: func(t *testing.T, _ *testWorker, dir string) {
				if readFile(dir, "copy") != plainMsg {
					t.Error("not copied")
				}
			}},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		seen[strings.Fields(tc.name)[0]] = true
		t.Run(tc.name, func(t *testing.T) { runBindingCase(t, tc) })
	}
	// Every binding is exercised above (the utilities share the time_str
	// case).
	for _, name := range []string{"hour_str", "rfc2822_date", "gen_msgid_header", "get_host_name", "percent_decode",
		"gen_date_msgid_headers", "header_timezone", "md_copy_orig_msg_to_work_dir_as_mbox_file", "md_graphdefang_log",
		"md_graphdefang_log_array", "re_match_in_tgz_directory",
		// TestCheckAgainstSMTPServer
		"md_check_against_smtp_server",
		// TestVirusBindings
		"message_contains_virus_clamd", "entity_contains_virus_clamd", "message_contains_virus_clamdscan",
		"entity_contains_virus_clamdscan", "message_contains_virus_clamav", "entity_contains_virus_clamav",
		"interpret_clamav_code", "run_virus_scanner", "message_contains_virus", "entity_contains_virus",
		"initialize_virus_scanner_routines",
		// TestSpamBindings
		"spam_assassin_check", "spam_assassin_is_spam", "spam_assassin_status", "spam_assassin_init",
		"spam_assassin_mail", "md_spamc_init", "md_spamc_check", "rspamd_check", "detect_and_load_perl_modules",
		// TestCheckAllBinding
		"md_check_all",
		// TestDNSBindings
		"email_is_blacklisted", "expand_ipv6_address", "get_mx_ip_addresses", "get_ptr_record",
		"is_public_ip4_address", "is_public_ip6_address", "md_dns_txt", "md_get_bogus_mx_hosts",
		"md_get_dmarc_record", "relay_is_blacklisted", "relay_is_blacklisted_multi",
		"relay_is_blacklisted_multi_count", "relay_is_blacklisted_multi_list", "reverse_ip_address_for_rbl", "md_spf_verify", "md_dkim_sign", "md_dkim_verify",
		"md_org_domain", "md_bimi_get_selector", "md_bimi_lookup", "md_bimi_verify", "md_authres",
		"md_check_mta_sts", "md_verify_sts_mx", "md_check_dane_tlsa", "md_verify_dane_cert",
		"add_ip_validation_header", "delete_ip_validation_header",
		// TestARCBinding
		"md_arc_sign"} {
		seen[name] = true
	}
	var missing []string
	for name := range bindings {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("bindings without a test case: %v", missing)
	}
}

func inputHas(s string) func(t *testing.T, tw *testWorker, dir string) {
	return func(t *testing.T, _ *testWorker, dir string) {
		if in := readFile(dir, "INPUTMSG"); !strings.Contains(in, s) {
			t.Errorf("INPUTMSG lacks %q:\n%s", s, in)
		}
	}
}

func inputLacks(s string) func(t *testing.T, tw *testWorker, dir string) {
	return func(t *testing.T, _ *testWorker, dir string) {
		if in := readFile(dir, "INPUTMSG"); strings.Contains(in, s) {
			t.Errorf("INPUTMSG has %q:\n%s", s, in)
		}
	}
}

// TestContextRules checks that the Context methods' guards reach Lua: a
// part action outside the part walk returns false and logs.
func TestContextRules(t *testing.T) {
	tw := newTestWorker(t, `function filter_begin() action_add_header("X-r", tostring(action_drop())) end
function filter_end(e) action_add_header("X-b", tostring(action_bounce("x"))) end`)
	res := tw.mustScan(plainMsg)
	if !hasLine(res, "HX-r false") || !hasLine(res, "B554 5.7.1 x") {
		t.Errorf("RESULTS:\n%s", res)
	}
	if !strings.Contains(tw.log.String(), "action_drop called outside of filter context") {
		t.Errorf("log:\n%s", tw.log)
	}
}

// TestArgumentErrors: a wrong argument is a Lua error with the line.
func TestArgumentErrors(t *testing.T) {
	tw := newTestWorker(t, "function filter_begin(e)\n  action_add_header({}, 1)\nend\n")
	_, err := tw.scan(plainMsg)
	if err == nil || !strings.Contains(err.Error(), "filter.lua:2:") {
		t.Fatalf("err = %v, want one at filter.lua:2", err)
	}
	tw = newTestWorker(t, "function filter(e)\n  re_match(e, [[(?<=x)y]])\nend\n")
	_, err = tw.scan(plainMsg)
	if err == nil || !strings.Contains(err.Error(), "RE2") {
		t.Fatalf("err = %v, want a bad regular expression", err)
	}
	tw = newTestWorker(t, "function filter_begin(e)\n  find_part('x', 'text/plain')\nend\n")
	_, err = tw.scan(plainMsg)
	if err == nil || !strings.Contains(err.Error(), "entity expected") {
		t.Fatalf("err = %v, want entity expected", err)
	}
}

// TestPushValues: an integration's Perl list reaches Lua with its types
// (numbers as numbers, codes as strings); a value with no Lua form is a
// Lua error of the call, not a crash of the worker.
func TestPushValues(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	fn := func(vals ...any) *lua.LFunction {
		return L.NewFunction(func(L *lua.LState) int { return pushValues(L, vals) })
	}
	L.SetGlobal("list", fn("CONTINUE", "550", 1, 2.5, true, nil, "last"))
	L.SetGlobal("bad", fn("ok", struct{}{}))
	if err := L.DoString(`local a, b, c, d, e, f, g = list()
r = table.concat({type(a), type(b), type(c), tostring(c + d), tostring(e), tostring(f), g, select('#', list())}, " ")`); err != nil {
		t.Fatal(err)
	}
	if got := L.GetGlobal("r").String(); got != "string string number 3.5 true nil last 7" {
		t.Errorf("got %q", got)
	}
	err := L.DoString(`bad()`)
	if err == nil || !strings.Contains(err.Error(), "returned a struct {}, which has no Lua value") {
		t.Errorf("err = %v", err)
	}
}

// quarantined returns the files called name in the worker's quarantine.
func quarantined(tw *testWorker, name string) []string {
	got, _ := filepath.Glob(filepath.Join(tw.w.Config().QuarantineDir, "*", "qdir-*", name))
	return got
}

// mailed checks that one message given to sendmail has all of want.
func mailed(want ...string) func(t *testing.T, tw *testWorker, dir string) {
	return func(t *testing.T, tw *testWorker, _ string) {
		mails := tw.mails()
		for _, m := range mails {
			all := true
			for _, w := range want {
				all = all && strings.Contains(m, w)
			}
			if all {
				return
			}
		}
		t.Errorf("no mail with %q among %d:\n%s", want, len(mails), strings.Join(mails, "\n----\n"))
	}
}

// matches checks RESULTS against regular expressions.
func matches(res ...string) func(t *testing.T, tw *testWorker, dir string) {
	return func(t *testing.T, _ *testWorker, dir string) {
		results := readFile(dir, "RESULTS")
		for _, re := range res {
			if !regexp.MustCompile(re).MatchString(results) {
				t.Errorf("RESULTS does not match %s:\n%s", re, results)
			}
		}
	}
}

// archiveMsg is a message with one attachment, base64-encoded.
func archiveMsg(name string, data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	return "From: sender@example.com\nSubject: files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n\n" +
		"--B\nContent-Type: text/plain\n\nAttached.\n\n" +
		"--B\nContent-Type: application/octet-stream; name=\"" + name + "\"\nContent-Disposition: attachment; filename=\"" + name +
		"\"\nContent-Transfer-Encoding: base64\n\n" + enc + "\n\n--B--\n"
}

func zipOf(names ...string) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, n := range names {
		w, _ := z.Create(n)
		w.Write([]byte("content of " + n))
	}
	z.Close()
	return b.Bytes()
}

func tarOf(names ...string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, n := range names {
		data := []byte("content of " + n)
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
	}
	tw.Close()
	return b.Bytes()
}

// runBindingCase scans tc.msg with tc.src (and H(name, value), which adds
// the header X-<name>: a way to see values) and checks what tc expects.
func runBindingCase(t *testing.T, tc bindingCase) {
	t.Helper()
	// H(name, value) adds header X-<name>: a way to see values.
	tw := newTestWorker(t, `function H(n, v) action_add_header("X-" .. n, tostring(v)) end
`+tc.src)
	res, dir, err := tw.scanDir(tc.msg)
	if err != nil {
		t.Fatalf("scan: %v\nlog:\n%s", err, tw.log)
	}
	for _, l := range tc.lines {
		if !hasLine(res, l) {
			t.Errorf("RESULTS lacks %q:\n%s", l, res)
		}
	}
	for _, l := range tc.noLines {
		if hasLine(res, l) {
			t.Errorf("RESULTS has %q:\n%s", l, res)
		}
	}
	body := readFile(dir, "NEWBODY")
	for _, s := range tc.body {
		if !strings.Contains(body, s) {
			t.Errorf("NEWBODY lacks %q:\n%s", s, body)
		}
	}
	for _, s := range tc.notBody {
		if strings.Contains(body, s) {
			t.Errorf("NEWBODY has %q:\n%s", s, body)
		}
	}
	want := tc.log
	if _, err := os.Stat("/dev/log"); err != nil {
		want = append(want, tc.syslogLog...)
	}
	for _, s := range want {
		if !strings.Contains(tw.log.String(), s) {
			t.Errorf("log lacks %q:\n%s", s, tw.log)
		}
	}
	if tc.check != nil {
		tc.check(t, tw, dir)
	}
	if !hasLine(res, "F") {
		t.Errorf("RESULTS does not end with F:\n%s", res)
	}
}

// encodedValues writes "HX-name a value" lines as RESULTS holds them: the
// value's blanks percent-encoded.
func encodedValues(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		name, value, _ := strings.Cut(l, " ")
		out[i] = name + " " + strings.ReplaceAll(value, " ", "%20")
	}
	return out
}
