package filter

import (
	"crypto/sha1"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mdgo/md/worker/internal/spooldir"
	"github.com/mdgo/md/worker/message"
)

// Part dispositions, called from Filter and Multipart. Each sets the
// current part's disposition ($Action); the last one called for a part
// wins, warnings queued by earlier calls stay. Outside the part walk they
// log "<name> called outside of filter context" and return false.

const (
	actAccept  = "accept"
	actDrop    = "drop"
	actReplace = "replace"
)

func (c *Context) inFilterContext(name string) bool {
	if c.inFilter {
		return true
	}
	return c.refuse(name, "filter context")
}

// ActionAccept is action_accept: keep the part (the default).
func (c *Context) ActionAccept() bool {
	if !c.inFilterContext("action_accept") {
		return false
	}
	c.action = actAccept
	return true
}

// ActionAcceptWithWarning is action_accept_with_warning($msg): keep the part
// and queue msg + "\n" as a warning.
func (c *Context) ActionAcceptWithWarning(msg string) bool {
	if !c.inFilterContext("action_accept_with_warning") {
		return false
	}
	c.count("accept_with_warning")
	c.action = actAccept
	c.warnings = append(c.warnings, msg+"\n")
	return true
}

// ActionDrop is action_drop: omit the part (from Multipart: the whole
// subtree) silently.
func (c *Context) ActionDrop() bool {
	if !c.inFilterContext("action_drop") {
		return false
	}
	c.count("drop")
	c.action = actDrop
	return true
}

// ActionDropWithWarning is action_drop_with_warning($msg): ActionDrop plus
// the warning msg + "\n".
func (c *Context) ActionDropWithWarning(msg string) bool {
	if !c.inFilterContext("action_drop_with_warning") {
		return false
	}
	c.count("drop_with_warning")
	c.action = actDrop
	c.warnings = append(c.warnings, msg+"\n")
	return true
}

// ActionReplaceWithWarning is action_replace_with_warning($msg): replace the
// part (from Multipart: the subtree) by an inline text/plain part named
// warning<N>.txt whose body is msg + "\n". It queues no warning.
func (c *Context) ActionReplaceWithWarning(msg string) bool {
	if !c.inFilterContext("action_replace_with_warning") {
		return false
	}
	c.count("replace_with_warning")
	c.action = actReplace
	c.warningCounter++
	c.replacement = message.NewPart(textPlainFor(msg), "-suggest", []byte(msg+"\n"),
		"warning"+strconv.Itoa(c.warningCounter)+".txt", "inline")
	return true
}

var urlExtRE = regexp.MustCompile(`^\.[A-Za-z0-9_]*$`)

// ActionReplaceWithURL is action_replace_with_url($entity, $doc_root,
// $base_url, $msg, $cd_data, $salt): it stores the decoded body of leaf
// part p as docRoot/<name>, where name is the hex SHA-1 of the body (with
// salt appended to the hash input) followed by the part's file name
// extension when that matches ^\.[A-Za-z0-9_]*$; an existing file of that
// name only gets its times bumped, a new one is written with mode 0644. A
// non-empty cdData is written to docRoot/.<name> (0644). Every "_URL_" in
// msg becomes baseURL + "/" + name, and the part is replaced as by
// ActionReplaceWithWarning(msg). It returns false for a container or when
// the body cannot be stored.
func (c *Context) ActionReplaceWithURL(p *message.Part, docRoot, baseURL, msg, cdData, salt string) bool {
	if !c.inFilterContext("action_replace_with_url") {
		return false
	}
	if p == nil || p.IsMultipart() {
		return false
	}
	body, err := p.Body()
	if err != nil {
		c.Logf("action_replace_with_url: %v", err)
		return false
	}
	h := sha1.New()
	h.Write(body)
	h.Write([]byte(salt))
	ext := ""
	if fname := p.FileName(); strings.Contains(fname, ".") {
		ext = fname[strings.LastIndex(fname, "."):]
	}
	if !urlExtRE.MatchString(ext) {
		ext = ""
	}
	name := hex.EncodeToString(h.Sum(nil)) + ext
	path := docRoot + "/" + name
	if _, err := os.Stat(path); err == nil {
		now := time.Now()
		_ = os.Chtimes(path, now, now)
	} else {
		if err := os.WriteFile(path, body, 0o644); err != nil {
			c.Logf("action_replace_with_url: %v", err)
			return false
		}
		_ = os.Chmod(path, 0o644)
	}
	if cdData != "" {
		cd := filepath.Join(docRoot, "."+name)
		if os.WriteFile(cd, []byte(cdData), 0o644) == nil {
			_ = os.Chmod(cd, 0o644)
		}
	}
	msg = strings.ReplaceAll(msg, "_URL_", baseURL+"/"+name)
	return c.ActionReplaceWithWarning(msg)
}

// ActionDefang is action_defang($entity, $name, $fname, $type): keep part p
// under a new identity: Content-Type typ (default
// application/octet-stream) with name=name, Content-Disposition
// filename=fname, Content-Description fname; then
// ActionAcceptWithWarning with DefangWarning's text or the built-in
// sentence naming the old and new file names.
//
// MIMEDefang 3.3 dies when name or fname is empty (make_defanged_name no
// longer exists); here an empty name or fname becomes
// "defang-<n>.binary", what that function used to return.
func (c *Context) ActionDefang(p *message.Part, name, fname, typ string) bool {
	c.changed = true
	if !c.inFilterContext("action_defang") {
		return false
	}
	if typ == "" {
		typ = "application/octet-stream"
	}
	c.count("defang")
	old := p.FileName()
	if name == "" || fname == "" {
		d := "defang-" + strconv.Itoa(c.actions["defang"]) + ".binary"
		if name == "" {
			name = d
		}
		if fname == "" {
			fname = d
		}
	}
	var warning string
	if cb := c.w.callbacks().DefangWarning; cb != nil {
		s, err := cb(c, old, fname)
		if err != nil {
			c.fail(err)
			return false
		}
		warning = s
	} else {
		warning = "An attachment named '" + old + "' was converted to '" + fname + "'.\n" +
			"To recover the file, click on the attachment and Save As\n'" + old + "' in order to access it.\n"
	}
	p.SetHeader("Content-Type", setParam(typ, "name", name))
	disp := p.Header("Content-Disposition")
	if strings.TrimSpace(disp) == "" {
		// MIME-tools would write "; filename=..." here.
		disp = "inline"
	}
	p.SetHeader("Content-Disposition", setParam(disp, "filename", fname))
	p.SetHeader("Content-Description", fname)
	return c.ActionAcceptWithWarning(warning)
}

// quoteParam renders a MIME parameter value quoted, as MIME-tools'
// mime_attr writes it.
func quoteParam(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// ActionExternalFilter is action_external_filter($entity, $cmd): the
// decoded body of leaf p is written to FILTERINPUT in the working
// directory, cmd runs through /bin/sh there; if it exits with status
// 0 (or, as in MIMEDefang, any status divisible by 255) and wrote
// FILTEROUTPUT, that file becomes the part's new body. It returns false
// when the command failed; true otherwise, also when there was no output.
func (c *Context) ActionExternalFilter(p *message.Part, cmd string) bool {
	if !c.inFilterContext("action_external_filter") {
		return false
	}
	if p == nil || p.IsMultipart() {
		return false
	}
	body, err := p.Body()
	if err != nil {
		c.Logf("Could not open FILTERINPUT: %v", err)
		return false
	}
	in := filepath.Join(c.CWD, "FILTERINPUT")
	if err := os.WriteFile(in, body, spooldir.FileMode); err != nil {
		c.Logf("Could not open FILTERINPUT: %v", err)
		return false
	}
	sh := exec.CommandContext(c, "/bin/sh", "-c", cmd)
	sh.Dir = c.CWD
	err = sh.Run()
	status := 0
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			status = ee.ExitCode() << 8
		} else {
			status = -1
		}
	}
	if status%255 != 0 {
		c.Logf("External filter exited with non-zero status %d", status)
		return false
	}
	out := filepath.Join(c.CWD, "FILTEROUTPUT")
	nb, err := os.ReadFile(out)
	if err != nil {
		return true
	}
	_ = os.Remove(out)
	p.SetBody(nb)
	c.changed = true
	c.count("external_filter")
	return true
}
