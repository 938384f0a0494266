package message

// Added is a part queued by action_add_part / action_add_entity, added to
// the rebuilt message by AddParts.
type Added struct {
	Part *Part
	// Offset is MIME::Entity add_part's index: -1 appends, 0 inserts
	// first, n inserts before the n-th child; a negative n counts from
	// the end (-2 is before the last child).
	Offset int
}

// AddParts is MIMEDefang's process_added_parts. With nothing queued it
// returns top unchanged. Otherwise, unless top's type is multipart/mixed, top
// is wrapped in a new multipart/mixed whose only child it is; then each
// queued part is inserted at its offset, in queue order. It returns the new
// top entity.
//
// As in MIMEDefang, a wrapped top entity keeps its whole header: the
// message's Received, From, Subject ... fields are written again as the
// header of the first part of the new multipart/mixed (the top of a
// single-part message, wrapped by make_multipart at parse time, holds only
// the Content-* fields).
func AddParts(top *Part, added []Added) *Part {
	if len(added) == 0 {
		return top
	}
	if top.Type() != "multipart/mixed" || top.kind != multipart {
		top = NewMultipart("multipart/mixed", top)
	}
	kids := append([]*Part(nil), top.children...)
	for _, a := range added {
		i := a.Offset
		if i < 0 {
			i = len(kids) + 1 + i
		}
		i = max(0, min(i, len(kids)))
		kids = append(kids, nil)
		copy(kids[i+1:], kids[i:])
		kids[i] = a.Part
	}
	top.SetParts(kids)
	return top
}

// Collapse is the trimming of docs/reference/filter-api.md §2.3 step 14 (MIME::Entity make_singlepart in
// a loop): while top is a multipart/mixed or multipart/alternative with
// exactly one child, it is replaced by that child; once a collapse has
// happened, make_singlepart's own recursion also collapses a child that is
// any multipart with one child, and turns a multipart with no children into
// an empty text/plain part. The result's Content-* header fields are the
// child's, which is what WriteBody reports to the milter.
func Collapse(top *Part) *Part {
	for top.kind == multipart && (top.typ == "multipart/mixed" || top.typ == "multipart/alternative") && len(top.children) == 1 {
		top = top.children[0]
		for top.kind == multipart {
			if len(top.children) == 1 {
				top = top.children[0]
				continue
			}
			if len(top.children) == 0 {
				top = NewPart("text/plain", "7bit", nil, "", "")
			}
			break
		}
	}
	return top
}

// RemoveRedundantHTML is MIMEDefang's remove_redundant_html_parts: in every
// multipart/alternative that has a text/plain child, all text/html children
// are removed; it recurses through children (attached messages included) but
// not into multipart/signed or multipart/encrypted. It reports whether
// anything was removed.
func RemoveRedundantHTML(top *Part) bool {
	if top.typ == "multipart/signed" || top.typ == "multipart/encrypted" {
		return false
	}
	did := false
	if top.typ == "multipart/alternative" && len(top.children) > 0 {
		plain := false
		for _, c := range top.children {
			if c.typ == "text/plain" {
				plain = true
				break
			}
		}
		if plain {
			var keep []*Part
			for _, c := range top.children {
				if c.typ == "text/html" {
					did = true
					continue
				}
				keep = append(keep, c)
			}
			if did {
				top.SetParts(keep)
			}
		}
	}
	for _, c := range top.children {
		if RemoveRedundantHTML(c) {
			did = true
		}
	}
	return did
}

// FindPart is MIMEDefang's find_part: the first leaf, depth first, whose
// type is typ (compare in lower case). Like the Perl it descends only into
// multipart containers, never into an attached message/rfc822, and with
// skipPGP not into multipart/signed or multipart/encrypted. It returns nil
// when there is none.
func FindPart(top *Part, typ string, skipPGP bool) *Part {
	typ = lower(typ)
	if top.kind != multipart { // is_multipart: a multipart read as one
		if top.htype == typ {
			return top
		}
		return nil
	}
	if skipPGP && isPGP(top) {
		return nil
	}
	for _, c := range top.children {
		if f := FindPart(c, typ, skipPGP); f != nil {
			return f
		}
	}
	return nil
}

// CollectParts is MIMEDefang's collect_parts: every part without children,
// depth first (attached messages are descended into; a container left with
// no children counts as a leaf, as in Perl); with skipPGP the subtrees of
// multipart/signed and multipart/encrypted are skipped.
func CollectParts(top *Part, skipPGP bool) []*Part {
	var out []*Part
	var walk func(*Part)
	walk = func(p *Part) {
		if len(p.children) == 0 {
			out = append(out, p)
			return
		}
		if skipPGP && isPGP(p) {
			return
		}
		for _, c := range p.children {
			walk(c)
		}
	}
	walk(top)
	return out
}

// TextLeaves selects the parts append_text_boilerplate (typ "text/plain")
// and append_html_boilerplate (typ "text/html") write to: with all false the
// FindPart(top, typ, true) result (at most one part), with all true every
// CollectParts(top, true) part of that type. multipart/signed and
// multipart/encrypted subtrees are always skipped.
func TextLeaves(top *Part, typ string, all bool) []*Part {
	typ = lower(typ)
	if !all {
		if p := FindPart(top, typ, true); p != nil {
			return []*Part{p}
		}
		return nil
	}
	var out []*Part
	for _, p := range CollectParts(top, true) {
		if p.htype == typ {
			out = append(out, p)
		}
	}
	return out
}

// Walk calls fn for top and every descendant, depth first, parents before
// children, with the nesting depth (top is 0). When fn returns false the
// part's children are not visited.
func Walk(top *Part, fn func(p *Part, depth int) bool) {
	var walk func(*Part, int)
	walk = func(p *Part, d int) {
		if !fn(p, d) {
			return
		}
		for _, c := range p.children {
			walk(c, d+1)
		}
	}
	walk(top, 0)
}

// isPGP tests the header type, as find_part and collect_parts do.
func isPGP(p *Part) bool {
	return p.htype == "multipart/signed" || p.htype == "multipart/encrypted"
}

func isMultipartType(t string) bool { return len(t) >= 10 && t[:10] == "multipart/" }
