package filter

import (
	"github.com/mdgo/md/worker/message"
)

// Body and structure edits. The body is rewritten (NEWBODY, C and M lines)
// only when something changed ($Changed) or a rebuild was asked for
// ($Rebuild); parts nobody touched are copied byte for byte.

func (c *Context) notInWrapup(name string) bool {
	if c.inWrapup {
		c.Logf("%s called inside filter_wrapup context", name)
		return false
	}
	return true
}

// ActionRebuild is action_rebuild: re-emit the body even if nothing
// changed. Message context, not in Wrapup.
func (c *Context) ActionRebuild() bool {
	if !c.inMessageContext("action_rebuild") || !c.notInWrapup("action_rebuild") {
		return false
	}
	c.rebuild = true
	return true
}

// ActionAddPart is action_add_part($entity, $type, $encoding, $data,
// $fname, $disposition, $offset): build a leaf (message.NewPart; encoding
// "-suggest" chooses one) and queue it with ActionAddEntity at offset (-1
// is the end and Perl's default, 0 first). Perl's $entity argument is
// ignored by MIMEDefang and has no counterpart: queued parts always go to
// the final rebuilt message. Returns the new part, or nil outside message
// context or inside Wrapup.
func (c *Context) ActionAddPart(typ, encoding string, data []byte, fname, disposition string, offset int) *message.Part {
	if !c.inMessageContext("action_add_part") || !c.notInWrapup("action_add_part") {
		return nil
	}
	return c.ActionAddEntity(message.NewPart(typ, encoding, data, fname, disposition), offset)
}

// ActionAddEntity is action_add_entity($entity, $offset): queue part p to
// be added to the rebuilt message at offset (-1 the end, 0 first) after
// filter_end; a message whose top is not multipart/mixed is then wrapped in
// one. Sets rebuild. Returns p, or nil outside message context or inside
// Wrapup.
func (c *Context) ActionAddEntity(p *message.Part, offset int) *message.Part {
	if !c.inMessageContext("action_add_part") || !c.notInWrapup("action_add_part") {
		return nil
	}
	c.added = append(c.added, message.Added{Part: p, Offset: offset})
	c.rebuild = true
	return p
}

// ReplaceEntireMessage is replace_entire_message($entity): only in End;
// p replaces the whole body and MIME structure (the top-level non-Content-*
// headers stay as they are). Sets rebuild.
func (c *Context) ReplaceEntireMessage(p *message.Part) bool {
	if !c.inFilterEnd {
		return c.refuse("replace_entire_message", "filter_end")
	}
	if p == nil {
		c.Logf("replace_entire_message: argument is not a part")
		return false
	}
	c.replaceEntire = p
	c.rebuild = true
	return true
}

// AppendTextBoilerplate is append_text_boilerplate($top, $text, $all):
// appends "\n" + text + "\n" to the first text/plain leaf of top (all
// false) or to every one (all true), skipping multipart/signed and
// multipart/encrypted subtrees. True if anything was appended.
func (c *Context) AppendTextBoilerplate(top *message.Part, text string, all bool) bool {
	ok := false
	for _, p := range message.TextLeaves(top, "text/plain", all) {
		if c.AppendToPart(p, text) {
			c.count("append_text_boilerplate")
			ok = true
		}
	}
	return ok
}

// AppendHTMLBoilerplate is append_html_boilerplate($top, $html, $all): the
// same selection for text/html leaves; html + "\n" goes just before the
// first </body (else </html), or "\n" + html + "\n" at the end.
func (c *Context) AppendHTMLBoilerplate(top *message.Part, html string, all bool) bool {
	ok := false
	for _, p := range message.TextLeaves(top, "text/html", all) {
		if c.AppendToHTMLPart(p, html) {
			c.count("append_html_boilerplate")
			ok = true
		}
	}
	return ok
}

// AppendToPart is append_to_part($part, $text): appends "\n" + text + "\n"
// to the decoded body of leaf p. False for a container.
func (c *Context) AppendToPart(p *message.Part, text string) bool {
	if p == nil || !p.AppendText("\n"+text+"\n") {
		return false
	}
	c.changed = true
	return true
}

// AppendToHTMLPart is append_to_html_part($part, $html): inserts html into
// leaf p's HTML body as AppendHTMLBoilerplate does.
func (c *Context) AppendToHTMLPart(p *message.Part, html string) bool {
	if p == nil || !p.AppendHTML(html) {
		return false
	}
	c.changed = true
	return true
}

// RemoveRedundantHTMLParts is remove_redundant_html_parts($top): only in
// End; in every multipart/alternative with a text/plain child, removes the
// text/html children. True if anything was removed.
func (c *Context) RemoveRedundantHTMLParts(top *message.Part) bool {
	if !c.inFilterEnd {
		return c.refuse("remove_redundant_html_parts", "filter_end")
	}
	if message.RemoveRedundantHTML(top) {
		c.changed = true
		return true
	}
	return false
}
